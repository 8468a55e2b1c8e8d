//! Text segmentation for the FTS5 index. SQLite's own tokenizers keep a run of Han text as
//! one token, so text is segmented here and stored space-joined under `tokenize='ascii'`:
//! words of letters and digits are lowercased; CJK runs become overlapping character
//! bigrams (plus the single characters of one-character runs), the classic dictionary-free
//! CJK segmentation.

use serde_json::Value;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B–F
}

/// Space-joined tokens of `text`.
pub fn segment(text: &str) -> String {
    tokens(text).join(" ")
}

pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|w| w.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.extend(c.to_lowercase());
        } else {
            flush_word(&mut word, &mut out);
            flush_cjk(&mut cjk, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_cjk(&mut cjk, &mut out);
    out
}

/// Appends every string (and object key that reads as words) inside `value` to `out`.
pub fn collect_strings(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// An FTS5 MATCH expression for a user's search text: every token quoted (so no user
/// text is ever read as FTS syntax), joined with OR so partial matches still rank.
pub fn match_expression(query: &str) -> Option<String> {
    let tokens = tokens(query);
    if tokens.is_empty() {
        return None;
    }
    Some(
        tokens
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR "),
    )
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
    }
}
