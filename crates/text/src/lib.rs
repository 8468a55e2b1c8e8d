//! Text segmentation for full-text search. SQLite's tokenizers keep a run of Han (or kana,
//! or Hangul) text as one token, so a word inside it can never be found. Here CJK runs are
//! cut into overlapping character bigrams (a one-character run stays as it is), the
//! classic dictionary-free CJK segmentation; other text is left alone or split into
//! lowercased words.

use std::borrow::Cow;

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B–F
}

fn push_run(run: &[char], out: &mut String) {
    match run.len() {
        0 => {}
        1 => {
            out.push(' ');
            out.push(run[0]);
            out.push(' ');
        }
        _ => {
            for pair in run.windows(2) {
                out.push(' ');
                out.extend(pair);
            }
            out.push(' ');
        }
    }
}

/// `text` with every CJK run replaced by its space-separated bigrams; text without CJK
/// comes back as is, without copying.
pub fn split_cjk(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_cjk) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut run: Vec<char> = Vec::new();
    for c in text.chars() {
        if is_cjk(c) {
            run.push(c);
        } else {
            push_run(&run, &mut out);
            run.clear();
            out.push(c);
        }
    }
    push_run(&run, &mut out);
    Cow::Owned(out)
}

/// Search tokens: lowercased words of letters and digits, and CJK bigrams.
pub fn tokens(text: &str) -> Vec<String> {
    split_cjk(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Space-joined tokens of `text`.
pub fn segment(text: &str) -> String {
    tokens(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_words_and_cjk() {
        assert_eq!(
            tokens("Aspirin treats-HEADACHE"),
            ["aspirin", "treats", "headache"]
        );
        assert_eq!(tokens("阿司匹林"), ["阿司", "司匹", "匹林"]);
        assert_eq!(tokens("药 aspirin头痛"), ["药", "aspirin", "头痛"]);
        assert_eq!(tokens("  "), Vec::<String>::new());
        assert_eq!(split_cjk("plain text"), Cow::Borrowed("plain text"));
        assert_eq!(
            split_cjk("x头痛y").split_whitespace().collect::<Vec<_>>(),
            ["x", "头痛", "y"]
        );
        assert_eq!(tokens("東京タワー"), ["東京", "京タ", "タワ", "ワー"]);
    }
}
