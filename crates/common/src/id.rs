//! Identifiers. Resources use UUIDv7 strings (sortable, cursor-friendly); a few
//! kinds carry a readable prefix the seed documents show (`key_…`, `sess_…`).

use rand::RngCore;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new UUIDv7 in its canonical hyphenated form.
pub fn uuid7() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// `prefix_` + a UUIDv7 in fixed-width base62, so prefixed ids still sort by creation time.
pub fn prefixed(prefix: &str) -> String {
    let n = uuid::Uuid::now_v7().as_u128();
    format!("{prefix}_{}", base62_u128(n))
}

/// Fixed width (22 chars) base62 encoding of a u128, most significant digit first.
pub fn base62_u128(mut n: u128) -> String {
    let mut out = [b'0'; 22];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ascii")
}

/// `len` random base62 characters from the OS generator (about 5.95 bits each).
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut buf = [0u8; 64];
        rng.fill_bytes(&mut buf);
        for b in buf {
            // Rejection sampling keeps the distribution uniform: 248 = 4 * 62.
            if b < 248 && out.len() < len {
                out.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Random URL-safe token of `bytes` random bytes, hex encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    crate::hex::encode(&buf)
}

/// Turn a display name into a handle: lowercase ASCII letters and digits joined by
/// single dashes (`"Weekly Report Delivery"` → `weekly-report-delivery`).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(ch.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out.truncate(64);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A handle is 1–64 chars of `a-z`, `0-9` and inner dashes.
pub fn is_valid_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= 64
        && !handle.starts_with('-')
        && !handle.ends_with('-')
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_follows_the_documented_example() {
        assert_eq!(slugify("Weekly Report Delivery"), "weekly-report-delivery");
        assert_eq!(slugify("  Acme -- Growth!! Team "), "acme-growth-team");
        assert_eq!(slugify("!!!"), "");
    }

    #[test]
    fn prefixed_ids_sort_by_creation() {
        let a = prefixed("key");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = prefixed("key");
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 4 + 22);
    }

    #[test]
    fn handles_are_checked() {
        assert!(is_valid_handle("acme-growth-team"));
        assert!(!is_valid_handle("Acme"));
        assert!(!is_valid_handle("-a"));
        assert!(!is_valid_handle(""));
    }

    #[test]
    fn random_base62_has_requested_length_and_alphabet() {
        let s = random_base62(43);
        assert_eq!(s.len(), 43);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
