//! How model-free recall matches a question's words to what was said: a light stemmer (so
//! `living` meets `live` and `married` meets `marries`) and a small table of words that
//! point at the same everyday fact (`boss` and `manager`, `home` and `live`), since people
//! rarely ask in the words they used. The table is deliberately short and general: the
//! relations people state about themselves in conversation (where they live, who they work
//! for, what they like, names, family, dates).

/// Words too common to pick a line by.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "what", "where", "when", "who", "whom", "which",
    "how", "why", "does", "did", "has", "have", "had", "his", "her", "hers", "their", "them",
    "they", "you", "your", "with", "about", "that", "this", "from", "into", "any", "all", "there",
    "here", "will", "would", "should", "could", "can", "user", "tell", "know", "its",
];

/// Words that name the same kind of fact.
const RELATED: &[&[&str]] = &[
    &[
        "live",
        "home",
        "house",
        "flat",
        "apartment",
        "moved",
        "relocated",
        "settled",
        "based",
        "city",
        "town",
        "address",
        "reside",
    ],
    &["manager", "boss", "supervisor", "report", "supervise"],
    &[
        "favourite",
        "favorite",
        "love",
        "like",
        "prefer",
        "best",
        "enjoy",
    ],
    &["food", "dish", "meal", "eat", "cuisine"],
    &["name", "named", "called"],
    &["wedding", "married", "marry"],
    &["fly", "flight", "flew", "travel", "trip"],
    &["job", "work", "employer", "company", "office"],
    &["birthday", "born"],
    &[
        "partner",
        "wife",
        "husband",
        "spouse",
        "girlfriend",
        "boyfriend",
    ],
    &["child", "children", "kid", "son", "daughter"],
    &["allergy", "allergic"],
];

/// A word's stem: lowercase, common English endings taken off, a final `y` as `i`.
pub(crate) fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    let mut s = w.as_str();
    // (ending, letters that must remain)
    for (suffix, min) in [
        ("ies", 2),
        ("ied", 2),
        ("ing", 3),
        ("ed", 3),
        ("es", 3),
        ("ly", 3),
        ("s", 3),
    ] {
        if s.len() >= min + suffix.len() && s.ends_with(suffix) && !s.ends_with("ss") {
            s = &s[..s.len() - suffix.len()];
            break;
        }
    }
    let mut out = s.to_string();
    if out.ends_with('y') && out.len() > 3 {
        out.pop();
        out.push('i');
    }
    if out.ends_with('e') && out.len() > 3 {
        out.pop();
    }
    out
}

/// Whether two stems are the same word: equal, or one a prefix of the other by one letter
/// and at least four long (`marr` and `marri`; `set` is not `settl`).
fn same(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    a == b || (short.len() >= 4 && long.len() - short.len() <= 1 && long.starts_with(short))
}

/// One word of the question, with the stems that count as it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Wanted {
    pub word: String,
    stems: Vec<String>,
}

impl Wanted {
    /// Whether a token (as said) is this word or a related one.
    pub fn matches(&self, token_stem: &str) -> bool {
        self.stems.iter().any(|s| same(s, token_stem))
    }

    /// The words to search for: this one and its related ones.
    pub fn search_words(&self) -> Vec<String> {
        let mut out = vec![self.word.clone()];
        for group in RELATED {
            if group.iter().any(|w| same(&stem(w), &stem(&self.word))) {
                out.extend(group.iter().map(|w| w.to_string()));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The question's words worth matching (stopwords and one- and two-letter words left out;
/// all of them when nothing else is left).
pub(crate) fn wanted(question: &str) -> Vec<Wanted> {
    let tokens = andibase_text::tokens(question);
    let mut words: Vec<String> = tokens
        .iter()
        .filter(|w| w.chars().count() > 2 && !STOPWORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    if words.is_empty() {
        words = tokens;
    }
    let mut out: Vec<Wanted> = Vec::new();
    for word in words {
        if out.iter().any(|w| w.word == word) {
            continue;
        }
        let own = stem(&word);
        let mut stems = vec![own.clone()];
        for group in RELATED {
            if group.iter().any(|w| same(&stem(w), &own)) {
                stems.extend(group.iter().map(|w| stem(w)));
            }
        }
        stems.sort();
        stems.dedup();
        out.push(Wanted { word, stems });
    }
    out
}

/// Which of `wanted` the tokens hold (indexes). A token is stemmed only when it starts
/// as some wanted stem does (a stem keeps its word's first three letters), since this
/// runs on every word of every candidate line.
pub(crate) fn matched(tokens: &[String], wanted: &[Wanted]) -> Vec<usize> {
    let head = |s: &str| -> String { s.chars().take(3).collect() };
    let heads: Vec<String> = wanted
        .iter()
        .flat_map(|w| w.stems.iter().map(|s| head(s)))
        .collect();
    let stems: Vec<String> = tokens
        .iter()
        .filter(|t| heads.iter().any(|h| t.starts_with(h.as_str())))
        .map(|t| stem(t))
        .collect();
    (0..wanted.len())
        .filter(|&i| stems.iter().any(|s| wanted[i].matches(s)))
        .collect()
}

/// `lines` with the most telling first: those whose words are rare among them (a name, a
/// place, a dish said once) before those made of words said again and again. Ties keep
/// their order.
pub(crate) fn most_telling<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let lines: Vec<&String> = lines.collect();
    let words: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            // The speaker is said on every line of theirs: not telling.
            let text = l.split_once(": ").map_or(l.as_str(), |(_, t)| t);
            let text = text.split_once(": ").map_or(text, |(_, t)| t);
            let mut w: Vec<String> = andibase_text::tokens(text)
                .into_iter()
                .filter(|w| w.chars().count() > 2 && !STOPWORDS.contains(&w.as_str()))
                .collect();
            w.sort();
            w.dedup();
            w
        })
        .collect();
    let mut df: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for w in words.iter().flatten() {
        *df.entry(w.as_str()).or_default() += 1;
    }
    let n = lines.len().max(1) as f64;
    let telling = |w: &[String]| -> f64 {
        w.iter()
            .map(|x| (n / df[x.as_str()] as f64).ln())
            .fold(0.0, f64::max)
    };
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| telling(&words[b]).total_cmp(&telling(&words[a])));
    order.into_iter().map(|i| lines[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_meet_across_endings() {
        for (a, b) in [
            ("living", "live"),
            ("lives", "live"),
            ("married", "marries"),
            ("marry", "married"),
            ("named", "name"),
            ("called", "call"),
            ("flights", "flight"),
        ] {
            assert!(
                same(&stem(a), &stem(b)),
                "{a} ~ {b}: {} {}",
                stem(a),
                stem(b)
            );
        }
        for (a, b) in [
            ("car", "cardigan"),
            ("live", "lisbon"),
            ("son", "sonata"),
            ("set", "settled"),
        ] {
            assert!(!same(&stem(a), &stem(b)), "{a} !~ {b}");
        }
    }

    #[test]
    fn a_question_word_matches_what_it_means() {
        let w = wanted("Who is alice's boss?");
        assert_eq!(
            w.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
            ["alice", "boss"]
        );
        assert_eq!(
            matched(&andibase_text::tokens("My manager is Okafor"), &w),
            [1]
        );
        assert_eq!(matched(&andibase_text::tokens("alice: hi"), &w), [0]);
        assert!(w[1].search_words().contains(&"manager".to_string()));
        assert_eq!(wanted("who is it")[0].word, "who");
    }
}
