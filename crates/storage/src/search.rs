//! Full-text search over a table's text columns, one index per table.
//!
//! On SQLite the index is an FTS5 table (`fts_…`, keyed by the row's rowid) that is
//! contentless (`content=''`): the text is in the table already, and a second copy cost a
//! tenth of the pages a bulk insert writes. `contentless_delete=1` lets a row be removed
//! by rowid alone. (Indexes built before keep their content table until they are rebuilt;
//! every statement here works on both kinds.)
//!
//! No triggers keep it in step: a trigger writes one row per statement, and FTS5 flushes
//! its pending index to disk at every statement savepoint, which cost 45% of all
//! bulk-insert instructions (measured with callgrind). The table's only writer calls
//! [`index`] or [`index_since`] once per batch instead.
//!
//! Text goes through [`crate::SEGMENT_FUNCTION`] on the way in and through
//! [`andibase_text::split_cjk`] in queries, so words inside CJK runs are found.

use andibase_common::DomainResult;

use crate::{quote_ident, Sql, Value};

/// The index of `table` (files written before keep these names).
fn index_table(table: &str) -> String {
    format!("fts_{}", table.trim_start_matches("rec_"))
}

/// What a table's index holds: `shared`, the columns every reader may see, joined into
/// the index column `body`; and each column of `apart` (seen by some readers only) in an
/// index column of its own, so a query can leave out what its reader may not see.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchLayout {
    pub shared: Vec<String>,
    pub apart: Vec<String>,
}

impl SearchLayout {
    /// The index's columns, in order.
    fn index_columns(&self) -> Vec<String> {
        std::iter::once("body".to_string())
            .chain(self.apart.iter().cloned())
            .collect()
    }

    /// `(columns, values)` of an index row for the row aliased `row`.
    fn insert_parts(&self, row: &str) -> (String, String) {
        let columns: Vec<String> = self
            .index_columns()
            .iter()
            .map(|c| quote_ident(c))
            .collect();
        let values: Vec<String> = std::iter::once(segmented(&self.shared, row))
            .chain(
                self.apart
                    .iter()
                    .map(|c| segmented(std::slice::from_ref(c), row)),
            )
            .collect();
        (columns.join(", "), values.join(", "))
    }
}

/// The text `columns` contribute, joined by spaces, for the row aliased `row`.
fn segmented(columns: &[String], row: &str) -> String {
    let text = columns
        .iter()
        .map(|c| format!("coalesce({row}.{}, '')", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    let text = if text.is_empty() {
        "''".to_string()
    } else {
        text
    };
    format!("{}({text})", crate::SEGMENT_FUNCTION)
}

/// (Re)builds the index of `table` as `layout` says and fills it from every row.
pub fn rebuild(tx: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<()> {
    remove(tx, table)?;
    let (f, t) = (quote_ident(&index_table(table)), quote_ident(table));
    let columns: Vec<String> = layout
        .index_columns()
        .iter()
        .map(|c| quote_ident(c))
        .collect();
    tx.execute(
        &format!(
            "CREATE VIRTUAL TABLE {f} USING fts5({}, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
            columns.join(", ")
        ),
        &[],
    )?;
    let (columns, values) = layout.insert_parts("r");
    tx.execute(
        &format!("INSERT INTO {f} (rowid, {columns}) SELECT rowid, {values} FROM {t} AS r"),
        &[],
    )?;
    Ok(())
}

/// Whether the index of `table` is laid out as `layout` (an index built by an older
/// version, or before a field's `hiddenFrom` changed, may not be).
pub fn is_current(r: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<bool> {
    let rows = r.query(
        "SELECT name FROM pragma_table_info(?)",
        &[Value::Text(index_table(table))],
    )?;
    let have: Vec<String> = rows
        .iter()
        .map(|row| row.text(0).map(|n| n.to_ascii_lowercase()))
        .collect::<DomainResult<_>>()?;
    let want: Vec<String> = layout
        .index_columns()
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Ok(have == want)
}

/// Rebuilds the index of `table` unless it is laid out as `layout` already; whether it
/// was.
pub fn ensure(tx: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<bool> {
    if is_current(tx, table, layout)? {
        return Ok(true);
    }
    rebuild(tx, table, layout)?;
    Ok(false)
}

/// Removes the index of `table` (and the triggers older versions kept, which name
/// columns, so they go before any column is dropped or renamed).
pub fn remove(tx: &impl Sql, table: &str) -> DomainResult<()> {
    let fts = index_table(table);
    for trigger in ["ai", "au", "ad"] {
        tx.execute(
            &format!(
                "DROP TRIGGER IF EXISTS {}",
                quote_ident(&format!("{fts}_{trigger}"))
            ),
            &[],
        )?;
    }
    tx.execute(&format!("DROP TABLE IF EXISTS {}", quote_ident(&fts)), &[])?;
    Ok(())
}

/// Runs `sql(marks)` for the ids, 500 at a time, with the ids as parameters.
fn per_chunk(tx: &impl Sql, ids: &[String], sql: impl Fn(&str) -> String) -> DomainResult<()> {
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<Value> = chunk.iter().map(|i| Value::Text(i.clone())).collect();
        tx.execute(&sql(&marks), &params)?;
    }
    Ok(())
}

/// Removes the rows with these ids from the index (before they are purged).
pub fn unindex(tx: &impl Sql, table: &str, ids: &[String]) -> DomainResult<()> {
    let (f, t) = (quote_ident(&index_table(table)), quote_ident(table));
    per_chunk(tx, ids, |marks| {
        format!("DELETE FROM {f} WHERE rowid IN (SELECT rowid FROM {t} WHERE id IN ({marks}))")
    })
}

/// Indexes the rows with these ids again (after they changed): one delete and one insert
/// statement per 500 rows.
pub fn index(
    tx: &impl Sql,
    table: &str,
    layout: &SearchLayout,
    ids: &[String],
) -> DomainResult<()> {
    unindex(tx, table, ids)?;
    let (f, t) = (quote_ident(&index_table(table)), quote_ident(table));
    let (columns, values) = layout.insert_parts("r");
    per_chunk(tx, ids, |marks| {
        format!("INSERT INTO {f} (rowid, {columns}) SELECT rowid, {values} FROM {t} AS r WHERE id IN ({marks})")
    })
}

/// Where `table` ends now, for [`index_since`]: rows inserted later in the same write
/// transaction are exactly those past it (SQLite gives a new row the highest rowid plus
/// one, and nothing here sets rowids).
pub fn mark(tx: &impl Sql, table: &str) -> DomainResult<i64> {
    tx.query_one(
        &format!("SELECT coalesce(max(rowid), 0) FROM {}", quote_ident(table)),
        &[],
    )?
    .map(|r| r.int(0))
    .transpose()
    .map(|n| n.unwrap_or(0))
}

/// Indexes the rows inserted since [`mark`] gave `mark`: one range scan, where looking up
/// each new id (`id IN (…)`) cost an index and a table search per row.
pub fn index_since(
    tx: &impl Sql,
    table: &str,
    layout: &SearchLayout,
    mark: i64,
) -> DomainResult<()> {
    let (f, t) = (quote_ident(&index_table(table)), quote_ident(table));
    let (columns, values) = layout.insert_parts("r");
    tx.execute(
        &format!(
            "INSERT INTO {f} (rowid, {columns}) SELECT rowid, {values} FROM {t} AS r WHERE rowid > ?"
        ),
        &[mark.into()],
    )
    .map(|_| ())
}

/// A condition that the row aliased `row` of `table` holds every word of `text` (each as
/// a prefix), with its one parameter; none when `text` has no words. With `only`, the
/// words are looked for in the shared text and those `apart` columns alone. What a person
/// typed can never be read as query syntax (NUL and other control characters are spaces).
pub fn matching(
    table: &str,
    row: &str,
    text: &str,
    only: Option<&[String]>,
) -> Option<(String, Value)> {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let terms: Vec<String> = andibase_text::split_cjk(&text)
        .split_whitespace()
        .take(32)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    if terms.is_empty() {
        return None;
    }
    let query = match only {
        None => terms.join(" "),
        // Column names are record columns (`f_<key>`): letters, digits and `_`.
        Some(apart) => {
            let columns: Vec<&str> = std::iter::once("body")
                .chain(apart.iter().map(String::as_str))
                .collect();
            format!("{{{}}} : ({})", columns.join(" "), terms.join(" "))
        }
    };
    let f = quote_ident(&index_table(table));
    Some((
        format!("{row}.rowid IN (SELECT rowid FROM {f} WHERE {f} MATCH ?)"),
        Value::Text(query),
    ))
}
