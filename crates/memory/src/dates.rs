//! Relative dates made absolute: "tomorrow", "3 days ago", "next Friday" are read against
//! the day a message was said, and the date is written after the phrase
//! (`tomorrow (2026-03-06)`), so what formation files still means the same thing when it
//! is recalled months later. English only; anything else is left as it is.

use andibase_common::Timestamp;

const DAY_MS: i64 = 86_400_000;
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const NUMBERS: [&str; 11] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

/// The words of `text` with their byte ranges, lowercased.
fn words(text: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((text[s..i].to_lowercase(), s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn number(word: &str) -> Option<i64> {
    word.parse::<i64>()
        .ok()
        .filter(|n| (0..=366).contains(n))
        .or_else(|| NUMBERS.iter().position(|n| *n == word).map(|n| n as i64))
}

fn weekday(word: &str) -> Option<i64> {
    WEEKDAYS.iter().position(|d| *d == word).map(|d| d as i64)
}

/// Monday = 0 for a day counted from 1970-01-01 (a Thursday).
fn weekday_of(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// A phrase starting at word `i`: (words it spans, days from `today`).
fn phrase(w: &[(String, usize, usize)], i: usize, today: i64) -> Option<(usize, i64)> {
    let at = |k: usize| w.get(i + k).map(|x| x.0.as_str());
    match (at(0)?, at(1), at(2), at(3)) {
        ("day", Some("after"), Some("tomorrow"), _) => Some((3, 2)),
        ("day", Some("before"), Some("yesterday"), _) => Some((3, -2)),
        ("today" | "tonight", ..) => Some((1, 0)),
        ("tomorrow", ..) => Some((1, 1)),
        ("yesterday", ..) => Some((1, -1)),
        ("in", Some(n), Some(unit), _) => {
            let n = number(n)?;
            match unit {
                "day" | "days" => Some((3, n)),
                "week" | "weeks" => Some((3, 7 * n)),
                _ => None,
            }
        }
        (n, Some(unit), Some("ago"), _) => {
            let n = number(n)?;
            match unit {
                "day" | "days" => Some((3, -n)),
                "week" | "weeks" => Some((3, -7 * n)),
                _ => None,
            }
        }
        ("next" | "last", Some("week"), ..) => {
            Some((2, if at(0) == Some("next") { 7 } else { -7 }))
        }
        ("next" | "this" | "on" | "last", Some(day), ..) => {
            let target = weekday(day)?;
            let now = weekday_of(today);
            let ahead = (target - now).rem_euclid(7);
            let offset = match at(0)? {
                // The first such day after today.
                "next" => {
                    if ahead == 0 {
                        7
                    } else {
                        ahead
                    }
                }
                // Today or the first after.
                "this" | "on" => ahead,
                // The last such day before today.
                _ => {
                    let behind = (now - target).rem_euclid(7);
                    -(if behind == 0 { 7 } else { behind })
                }
            };
            Some((2, offset))
        }
        _ => None,
    }
}

/// `text` with the date written after each relative date phrase, read against `said`.
pub(crate) fn resolve(text: &str, said: Timestamp) -> String {
    let today = said.0.div_euclid(DAY_MS);
    let w = words(text);
    let mut out = String::with_capacity(text.len() + 16);
    let mut copied = 0;
    let mut i = 0;
    while i < w.len() {
        match phrase(&w, i, today) {
            Some((span, days)) => {
                let end = w[i + span - 1].2;
                let date = Timestamp((today + days) * DAY_MS).to_iso();
                out.push_str(&text[copied..end]);
                out.push_str(&format!(" ({})", &date[..10]));
                copied = end;
                i += span;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_are_written_as_dates() {
        // 2026-03-05 is a Thursday.
        let said = Timestamp::parse_iso_with_offset("2026-03-05T18:00:00Z").unwrap();
        for (text, want) in [
            (
                "Tomorrow I fly to Oslo",
                "Tomorrow (2026-03-06) I fly to Oslo",
            ),
            ("I saw her yesterday.", "I saw her yesterday (2026-03-04)."),
            (
                "the day after tomorrow",
                "the day after tomorrow (2026-03-07)",
            ),
            ("in 3 days", "in 3 days (2026-03-08)"),
            ("two weeks ago we met", "two weeks ago (2026-02-19) we met"),
            ("next Friday", "next Friday (2026-03-06)"),
            ("next Thursday", "next Thursday (2026-03-12)"),
            ("last Thursday", "last Thursday (2026-02-26)"),
            ("last Monday", "last Monday (2026-03-02)"),
            ("on Sunday", "on Sunday (2026-03-08)"),
            ("next week", "next week (2026-03-12)"),
            (
                "today and tomorrow",
                "today (2026-03-05) and tomorrow (2026-03-06)",
            ),
            (
                "nothing here, next to the dayroom",
                "nothing here, next to the dayroom",
            ),
            ("in the days", "in the days"),
        ] {
            assert_eq!(resolve(text, said), want, "{text}");
        }
    }
}
