//! Server-sent events, as both providers stream them: `event:` and `data:` lines, an
//! empty line ending each event.

use std::io::{BufRead, BufReader, Read};

use crate::{read_error, LlmError};

/// Reads events from `reader`, calling `on_event(event name, data)` for each until it
/// answers `false` or the stream ends.
pub(crate) fn read(
    reader: impl Read,
    mut on_event: impl FnMut(&str, &str) -> Result<bool, LlmError>,
) -> Result<(), LlmError> {
    let mut reader = BufReader::new(reader);
    let (mut event, mut data) = (String::new(), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| read_error(&e))?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if n == 0 || trimmed.is_empty() {
            if !data.is_empty() && !on_event(&event, &data)? {
                return Ok(());
            }
            event.clear();
            data.clear();
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        if let Some(value) = trimmed.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        } else if let Some(value) = trimmed.strip_prefix("event:") {
            event = value.trim().to_string();
        }
        // `id:`, `retry:` and `:` comments carry nothing we use.
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_are_split_on_empty_lines_and_data_lines_joined() {
        let text = ": hello\n\nevent: a\ndata: 1\ndata: 2\n\ndata: {\"x\":1}\r\n\r\ndata: tail";
        let mut seen = Vec::new();
        super::read(text.as_bytes(), |e, d| {
            seen.push((e.to_string(), d.to_string()));
            Ok(true)
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("a".into(), "1\n2".into()),
                ("".into(), "{\"x\":1}".into()),
                ("".into(), "tail".into())
            ]
        );
    }
}
