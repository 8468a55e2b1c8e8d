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
//!
//! On PostgreSQL the index is a `tsvector` table fed by the same segmenter (in
//! `search/postgres.rs`); each function here hands over to it there.

mod postgres;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use andibase_common::DomainResult;

use crate::{quote_ident, Dialect, Sql, Tx, Value};

/// The index of `table` (files written before keep these names).
pub(crate) fn index_table(table: &str) -> String {
    format!("fts_{}", table.trim_start_matches("rec_"))
}

/// The index's vocabulary (an `fts5vocab` table: each term and how many rows hold it),
/// which [`matching`] reads to choose how to search.
fn vocabulary_table(table: &str) -> String {
    format!("{}_terms", index_table(table))
}

fn create_vocabulary(tx: &impl Sql, table: &str) -> DomainResult<()> {
    tx.execute(
        &format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {} USING fts5vocab({}, 'row')",
            quote_ident(&vocabulary_table(table)),
            quote_ident(&index_table(table))
        ),
        &[],
    )
    .map(|_| ())
}

fn has_vocabulary(r: &impl Sql, table: &str) -> DomainResult<bool> {
    Ok(r.query_one(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
        &[Value::Text(vocabulary_table(table))],
    )?
    .is_some())
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
pub fn rebuild(tx: &Tx<'_>, table: &str, layout: &SearchLayout) -> DomainResult<()> {
    if tx.dialect() == Dialect::Postgres {
        return postgres::rebuild(tx, table, layout);
    }
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
    create_vocabulary(tx, table)
}

/// Whether the index of `table` is laid out as `layout` (an index built by an older
/// version, or before a field's `hiddenFrom` changed, may not be).
pub fn is_current(r: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<bool> {
    if r.dialect() == Dialect::Postgres {
        return postgres::is_current(r, table, layout);
    }
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
pub fn ensure(tx: &Tx<'_>, table: &str, layout: &SearchLayout) -> DomainResult<bool> {
    if tx.dialect() == Dialect::Postgres {
        if postgres::is_current(tx, table, layout)? {
            return Ok(true);
        }
        postgres::rebuild(tx, table, layout)?;
        return Ok(false);
    }
    if is_current(tx, table, layout)? {
        // Indexes built before the vocabulary was kept get it now.
        if !has_vocabulary(tx, table)? {
            create_vocabulary(tx, table)?;
            return Ok(false);
        }
        return Ok(true);
    }
    rebuild(tx, table, layout)?;
    Ok(false)
}

/// Removes the index of `table` (and the triggers older versions kept, which name
/// columns, so they go before any column is dropped or renamed).
pub fn remove(tx: &impl Sql, table: &str) -> DomainResult<()> {
    if tx.dialect() == Dialect::Postgres {
        return postgres::remove(tx, table);
    }
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
    tx.execute(
        &format!(
            "DROP TABLE IF EXISTS {}",
            quote_ident(&vocabulary_table(table))
        ),
        &[],
    )?;
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
pub fn index(tx: &Tx<'_>, table: &str, layout: &SearchLayout, ids: &[String]) -> DomainResult<()> {
    unindex(tx, table, ids)?;
    if tx.dialect() == Dialect::Postgres {
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let params: Vec<Value> = chunk.iter().map(|i| Value::Text(i.clone())).collect();
            let condition = format!("r.id IN ({marks})");
            postgres::index_rows(tx, table, layout, &condition, &params, false)?;
        }
        return Ok(());
    }
    let (f, t) = (quote_ident(&index_table(table)), quote_ident(table));
    let (columns, values) = layout.insert_parts("r");
    per_chunk(tx, ids, |marks| {
        format!("INSERT INTO {f} (rowid, {columns}) SELECT rowid, {values} FROM {t} AS r WHERE id IN ({marks})")
    })
}

/// Where `table` ends now: rows inserted later in the same write transaction are exactly
/// those past it (a new row takes a rowid above every other, and nothing here sets
/// rowids).
pub fn mark(tx: &impl Sql, table: &str) -> DomainResult<i64> {
    tx.query_one(
        &format!("SELECT coalesce(max(rowid), 0) FROM {}", quote_ident(table)),
        &[],
    )?
    .map(|r| r.int(0))
    .transpose()
    .map(|n| n.unwrap_or(0))
}

/// Indexes the rows past the rowid `mark` (where the table ended before a write, as
/// [`mark`] tells, or one below the write's first new row): one range scan, where looking
/// up each new id (`id IN (…)`) cost an index and a table search per row.
pub fn index_since(tx: &Tx<'_>, table: &str, layout: &SearchLayout, mark: i64) -> DomainResult<()> {
    if tx.dialect() == Dialect::Postgres {
        return postgres::index_rows(tx, table, layout, "r.rowid > ?", &[mark.into()], false);
    }
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

/// On PostgreSQL, what an `INSERT … RETURNING` into `table` adds to what it returns
/// (`, <text>, …`) so that [`index_returned`] can index the new rows without reading them
/// again (a round trip under the workspace's lock); `None` on SQLite, where
/// [`index_since`] costs no round trip.
pub fn returned_texts(dialect: Dialect, layout: &SearchLayout) -> Option<String> {
    (dialect == Dialect::Postgres).then(|| {
        postgres::texts(layout, "")
            .into_iter()
            .map(|t| format!(", {t}"))
            .collect()
    })
}

/// Indexes new rows of `table` from what their `INSERT` returned: each row's rowid at
/// `rowid`, then the texts [`returned_texts`] asked for. PostgreSQL only.
pub fn index_returned(
    tx: &Tx<'_>,
    table: &str,
    layout: &SearchLayout,
    rows: &[crate::Row],
    rowid: usize,
) -> DomainResult<()> {
    debug_assert_eq!(tx.dialect(), Dialect::Postgres);
    postgres::index_texts(tx, table, layout, rows, rowid, false)
}

/// A search's condition on a row, with its parameters in order.
#[derive(Debug)]
pub struct Matching {
    pub condition: String,
    pub params: Vec<Value>,
}

/// Words a search takes at most.
const MAX_WORDS: usize = 32;
/// Terms a word may stand for (as a prefix) and still be looked up row by row.
const MAX_EXPANSIONS: usize = 8;

/// The words of what a person typed, each quoted for FTS5: what they typed can never be
/// read as query syntax (NUL and other control characters are spaces).
fn words(text: &str) -> Vec<String> {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    andibase_text::split_cjk(&text)
        .split_whitespace()
        .take(MAX_WORDS)
        .map(str::to_string)
        .collect()
}

fn quoted(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// An FTS5 query of `terms` (ANDed), within the shared text and the `only` columns.
fn fts_query(terms: &[String], only: Option<&[String]>) -> String {
    match only {
        None => terms.join(" "),
        // Column names are record columns (`f_<key>`): letters, digits and `_`.
        Some(apart) => {
            let columns: Vec<&str> = std::iter::once("body")
                .chain(apart.iter().map(String::as_str))
                .collect();
            format!("{{{}}} : ({})", columns.join(" "), terms.join(" "))
        }
    }
}

/// The terms of the index that start with `word` (at most [`MAX_EXPANSIONS`]) and how
/// many rows hold them (an estimate: rows removed from a contentless index may still be
/// counted); none when `word` is not one plain token (the tokenizer would cut or fold it,
/// so its terms cannot be found by its spelling) or stands for too many terms.
fn expansions(
    r: &impl Sql,
    table: &str,
    vocabulary: &str,
    word: &str,
) -> DomainResult<Option<(Vec<String>, i64)>> {
    if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let low = word.to_ascii_lowercase();
    // The vocabulary counts a term's rows by reading its whole list (1.5 ms for a word in
    // 100,000 rows), so what it said is kept until the index changes: FTS5 rewrites its
    // structure record (block 10 of `…_data`) at every write, by any process, and the
    // file's schema version moves when an index is dropped and built again (whose new
    // structure record may read the same).
    let structure = r
        .query_one(
            &format!(
                "SELECT hex(block) || '/' || (SELECT schema_version FROM pragma_schema_version) FROM {} WHERE id = 10",
                quote_ident(&format!("{}_data", index_table(table)))
            ),
            &[],
        )?
        .map(|row| row.value(0).clone());
    let cache_key = (table.to_string(), low.clone());
    if let Some((seen, found)) = EXPANSIONS
        .lock()
        .expect("expansions cache poisoned")
        .get(&cache_key)
    {
        if Some(seen) == structure.as_ref() {
            return Ok(found.clone());
        }
    }
    let found = look_up_expansions(r, vocabulary, &low)?;
    if let Some(structure) = structure {
        let mut cache = EXPANSIONS.lock().expect("expansions cache poisoned");
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(cache_key, (structure, found.clone()));
    }
    Ok(found)
}

/// What [`expansions`] found of a (table, lowercased word), with the index's structure
/// record it was found under.
type ExpansionCache = HashMap<(String, String), (Value, Option<(Vec<String>, i64)>)>;
static EXPANSIONS: LazyLock<Mutex<ExpansionCache>> = LazyLock::new(Default::default);

fn look_up_expansions(
    r: &impl Sql,
    vocabulary: &str,
    low: &str,
) -> DomainResult<Option<(Vec<String>, i64)>> {
    let rows = r.query(
        &format!(
            "SELECT term, doc FROM {} WHERE term >= ? AND term < ? LIMIT {}",
            quote_ident(vocabulary),
            MAX_EXPANSIONS + 1
        ),
        &[
            Value::Text(low.to_string()),
            Value::Text(format!("{low}\u{10FFFF}")),
        ],
    )?;
    if rows.len() > MAX_EXPANSIONS {
        return Ok(None);
    }
    let mut terms = Vec::new();
    let mut rows_holding = 0;
    for row in &rows {
        terms.push(quoted(&row.text(0)?));
        rows_holding += row.int(1)?;
    }
    Ok(Some((terms, rows_holding)))
}

/// A condition that the row aliased `row` of `table` holds every word of `text` (each as
/// a prefix), with its one parameter; none when `text` has no words. With `only`, the
/// words are looked for in the shared text and those `apart` columns alone.
///
/// How it is looked for depends on how many rows match, by the index's vocabulary:
/// - few: the matching rows are gathered first (`rowid IN (…)`), and the query sorts
///   them; the work is the number of matches;
/// - many (a common word): each row the query walks, in its sort's index order, is looked
///   up in the index by its rowid, with each typed word replaced by the terms it is a
///   prefix of, so the page ends after about `limit × rows ÷ matches` lookups instead of
///   gathering and sorting every match (a word in each of 100,000 rows: 36 ms → 1 ms).
///
/// `for_count` always gathers: a count reads every match anyway.
pub fn matching(
    r: &impl Sql,
    table: &str,
    layout: &SearchLayout,
    row: &str,
    text: &str,
    only: Option<&[String]>,
    for_count: bool,
) -> DomainResult<Option<Matching>> {
    let words = words(text);
    if words.is_empty() {
        return Ok(None);
    }
    if r.dialect() == Dialect::Postgres {
        return postgres::matching(r, table, layout, row, &words, only, for_count);
    }
    let f = quote_ident(&index_table(table));
    let gathered = || {
        let terms: Vec<String> = words.iter().map(|w| format!("{}*", quoted(w))).collect();
        Some(Matching {
            condition: format!("{row}.rowid IN (SELECT rowid FROM {f} WHERE {f} MATCH ?)"),
            params: vec![Value::Text(fts_query(&terms, only))],
        })
    };
    if for_count || !has_vocabulary(r, table)? {
        return Ok(gathered());
    }
    let vocabulary = vocabulary_table(table);
    let mut groups = Vec::new();
    let mut fewest = i64::MAX;
    for word in &words {
        let Some((terms, rows_holding)) = expansions(r, table, &vocabulary, word)? else {
            return Ok(gathered());
        };
        if terms.is_empty() {
            // No row holds a term starting with it: nothing matches.
            return Ok(Some(Matching {
                condition: "FALSE".into(),
                params: Vec::new(),
            }));
        }
        fewest = fewest.min(rows_holding);
        groups.push(format!("({})", terms.join(" OR ")));
    }
    // Gathering costs about a twentieth of a lookup per match; looking up costs a page's
    // worth of lookups for every `rows ÷ matches` rows walked. Gather while that is less.
    let rows = mark(r, table)?.max(1);
    if fewest.saturating_mul(fewest) <= 1_000 * rows {
        return Ok(gathered());
    }
    // The row's own text answers for itself when it is plain ASCII (what the index's
    // tokenizer does to it is then known: lowercased runs of letters and digits), which
    // costs a fraction of a lookup in the index; other rows are looked up.
    let columns: Vec<String> = layout_columns(layout, only);
    let text = match columns.is_empty() {
        true => "''".to_string(),
        false => columns
            .iter()
            .map(|c| format!("coalesce({row}.{}, '')", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" || ' ' || "),
    };
    let plain: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    Ok(Some(Matching {
        condition: format!(
            "coalesce({WORDS_FUNCTION}({text}, ?), EXISTS (SELECT 1 FROM {f} WHERE {f} MATCH ? AND rowid = {row}.rowid))"
        ),
        params: vec![Value::Text(plain.join(" ")), Value::Text(fts_query(&groups, only))],
    }))
}

/// The record columns whose text a search by `only` may see: the shared ones, and those
/// of `only` among the apart ones (all of them without `only`).
fn layout_columns(layout: &SearchLayout, only: Option<&[String]>) -> Vec<String> {
    layout
        .shared
        .iter()
        .chain(
            layout
                .apart
                .iter()
                .filter(|c| only.is_none_or(|o| o.contains(c))),
        )
        .cloned()
        .collect()
}

/// The SQL function `holds_words` is registered as.
pub const WORDS_FUNCTION: &str = "andibase_holds_words";

/// Whether `text` holds each of the space-separated lowercase ASCII `words` as the start
/// of one of its words, as the full-text index would find it; none when `text` is not
/// plain ASCII (the tokenizer folds diacritics and CJK text is cut into pairs, so only
/// the index can say).
pub(crate) fn holds_words(text: &str, words: &str) -> Option<bool> {
    if !text.is_ascii() {
        return None;
    }
    let tokens: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_ascii_lowercase())
        .collect();
    Some(
        words
            .split(' ')
            .filter(|w| !w.is_empty())
            .all(|w| tokens.iter().any(|t| t.starts_with(w))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{apply, ColumnType, SchemaChange};
    use crate::{Database, DatabaseOptions};
    use andibase_common::temp::TempDir;

    /// Both ways of searching find the same rows: gathering the matches, and looking up
    /// each row with every word replaced by the terms it is a prefix of (chosen for words
    /// that most rows hold).
    #[tokio::test]
    async fn looking_up_each_row_finds_what_gathering_finds() {
        let dir = TempDir::new("search-ways");
        let db = Database::open(&dir.path().join("t.db"), &[], DatabaseOptions::default()).unwrap();
        let layout = SearchLayout {
            shared: vec!["name".into()],
            apart: vec!["f_secret".into()],
        };
        let l = layout.clone();
        db.write(move |tx| {
            apply(
                tx,
                &[SchemaChange::CreateRecordTable {
                    table: "rec_t".into(),
                    columns: vec![("f_secret".into(), ColumnType::Text)],
                }],
            )?;
            for i in 0..3000 {
                let name = match i % 10 {
                    0 => format!("printer jam {i} café"),
                    1..=7 => format!("printers queue {i}"),
                    _ => format!("printing press {i}"),
                };
                let secret = if i % 100 == 0 { "hidden printer" } else { "" };
                tx.execute(
                    "INSERT INTO rec_t (id, name, created_at, updated_at, f_secret) VALUES (?, ?, 'x', 'x', ?)",
                    &[format!("r{i:05}").into(), name.into(), secret.into()],
                )?;
            }
            rebuild(tx, "rec_t", &l)
        })
        .await
        .unwrap();
        let (apart, none): (Option<Vec<String>>, Option<Vec<String>>) =
            (Some(vec!["f_secret".to_string()]), Some(vec![]));
        for (text, only) in [
            ("printer", None),
            ("printers", None),
            ("print", None),
            ("Printer JAM", None),
            ("printer", none.clone()),
            ("hidden", apart.clone()),
            ("hidden", none.clone()),
            ("café", None),
            ("nothing", None),
            ("press 1", None),
        ] {
            let restricted = only.is_some();
            let found = db
                .read(move |r| {
                    let only = only.as_deref();
                    let ids = |m: Matching| -> DomainResult<Vec<String>> {
                        r.query(
                            &format!("SELECT id FROM rec_t t WHERE {} ORDER BY id", m.condition),
                            &m.params,
                        )?
                        .iter()
                        .map(|row| row.text(0))
                        .collect()
                    };
                    let layout = SearchLayout {
                        shared: vec!["name".into()],
                        apart: vec!["f_secret".into()],
                    };
                    let chosen = matching(r, "rec_t", &layout, "t", text, only, false)?.unwrap();
                    let looked_up = chosen.condition.contains("EXISTS");
                    let gathered = matching(r, "rec_t", &layout, "t", text, only, true)?.unwrap();
                    Ok((looked_up, ids(chosen)?, ids(gathered)?))
                })
                .await
                .unwrap();
            let (looked_up, chosen, gathered) = found;
            assert_eq!(chosen, gathered, "{text}");
            // The common words are looked up row by row; the rare ones gathered.
            let common = ["printer", "printers", "print"].contains(&text);
            assert_eq!(
                looked_up,
                common,
                "{text} ({restricted}): {} matches",
                gathered.len()
            );
        }

        // A term first written after the words were looked up is found: what the
        // vocabulary said is kept only while the index is unchanged.
        let l = layout.clone();
        db.write(move |tx| {
            tx.execute(
                "INSERT INTO rec_t (id, name, created_at, updated_at) VALUES ('r99999', 'printerly', 'x', 'x')",
                &[],
            )?;
            index_since(tx, "rec_t", &l, 3000)
        })
        .await
        .unwrap();
        let found = db
            .read(|r| {
                let layout = SearchLayout {
                    shared: vec!["name".into()],
                    apart: vec!["f_secret".into()],
                };
                let m = matching(r, "rec_t", &layout, "t", "printer", None, false)?.unwrap();
                assert!(m.condition.contains("EXISTS"), "{}", m.condition);
                r.query(
                    &format!("SELECT count(*) FROM rec_t t WHERE {}", m.condition),
                    &m.params,
                )?[0]
                    .int(0)
            })
            .await
            .unwrap();
        assert_eq!(found, 300 + 2100 + 1, "printer, printers and printerly");
    }
}

#[cfg(test)]
mod words_tests {
    use super::holds_words;

    /// A row's plain-ASCII text answers as the index would: lowercased runs of letters
    /// and digits, each word a prefix of one; other text is left to the index.
    #[test]
    fn plain_text_answers_as_the_index_would() {
        assert_eq!(holds_words("Printer-JAM #12", "printer jam 1"), Some(true));
        assert_eq!(
            holds_words("printer_jam", "jam"),
            Some(true),
            "`_` separates"
        );
        assert_eq!(
            holds_words("a printer", "rint"),
            Some(false),
            "prefixes only"
        );
        assert_eq!(holds_words("printer", "printer toner"), Some(false));
        assert_eq!(holds_words("", "x"), Some(false));
        assert_eq!(holds_words("café printer", "printer"), None);
        assert_eq!(holds_words("東京 printer", "printer"), None);
    }
}
