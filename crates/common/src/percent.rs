//! Percent-decoding, for URL parts and `data:` URLs.

/// Percent-decodes `s` (`+` as a space when `plus_is_space`, as in queries); a `%` not
/// followed by two hex digits stays as it is.
pub fn decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_escapes_and_leaves_broken_ones() {
        assert_eq!(super::decode("a%2Cb+c%zz%", true), b"a,b c%zz%");
        assert_eq!(super::decode("a+b%0A", false), b"a+b\n");
    }
}
