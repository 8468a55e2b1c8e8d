//! Full-text search on PostgreSQL: a `tsvector` table beside the record table, keyed by
//! its `rowid` column, with a GIN index.
//!
//! The words are cut here, not by a PostgreSQL text search configuration, so that both
//! engines find the same rows: [`andibase_text::tokens`] (lowercased runs of letters and
//! digits, CJK bigrams) with diacritics removed, as SQLite's `unicode61` tokenizer with
//! `remove_diacritics 2` does. The lexemes go in with `array_to_tsvector`, untouched.

use andibase_common::DomainResult;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

use super::{index_table, Matching, SearchLayout};
use crate::{quote_ident, Sql, Tx, Value};

/// The tokens of `text` as the index keeps them.
pub(super) fn lexemes(text: &str) -> Vec<String> {
    andibase_text::tokens(text)
        .into_iter()
        .map(|t| match t.is_ascii() {
            true => t,
            false => t.nfd().filter(|c| !is_combining_mark(*c)).nfc().collect(),
        })
        .collect()
}

pub(super) fn rebuild(tx: &Tx<'_>, table: &str, layout: &SearchLayout) -> DomainResult<()> {
    remove(tx, table)?;
    let f = quote_ident(&index_table(table));
    let columns: Vec<String> = layout
        .index_columns()
        .iter()
        .map(|c| format!("{} tsvector NOT NULL", quote_ident(c)))
        .collect();
    tx.execute(
        &format!(
            "CREATE TABLE {f} (rowid BIGINT PRIMARY KEY, {})",
            columns.join(", ")
        ),
        &[],
    )?;
    // One index over every column: what a search without `only` looks in. Without a
    // pending list (`fastupdate`): rows go straight into the index, since every search
    // reads the whole pending list (65 ms a search after a 100,000-record load, measured).
    tx.execute(
        &format!(
            "CREATE INDEX {} ON {f} USING GIN (({})) WITH (fastupdate = off)",
            quote_ident(&format!("{}_gin", index_table(table))),
            all_columns(layout, None)
        ),
        &[],
    )?;
    index_rows(tx, table, layout, "TRUE", &[], true)
}

pub(super) fn is_current(r: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<bool> {
    let have: Vec<String> = r
        .query(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ? AND column_name <> 'rowid' \
             ORDER BY ordinal_position",
            &[Value::Text(index_table(table))],
        )?
        .iter()
        .map(|row| row.text(0))
        .collect::<DomainResult<_>>()?;
    Ok(have == layout.index_columns())
}

pub(super) fn remove(tx: &impl Sql, table: &str) -> DomainResult<()> {
    tx.execute(
        &format!("DROP TABLE IF EXISTS {}", quote_ident(&index_table(table))),
        &[],
    )
    .map(|_| ())
}

/// The texts a row is indexed by (the shared text, then each column apart), as
/// expressions over its columns, each prefixed with `row` (`r.`, or nothing).
pub(super) fn texts(layout: &SearchLayout, row: &str) -> Vec<String> {
    let text_of = |cols: &[String]| -> String {
        match cols.is_empty() {
            true => "''".into(),
            false => cols
                .iter()
                .map(|c| format!("coalesce({row}{}::text, '')", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(" || ' ' || "),
        }
    };
    let mut texts = vec![text_of(&layout.shared)];
    texts.extend(
        layout
            .apart
            .iter()
            .map(|c| text_of(std::slice::from_ref(c))),
    );
    texts
}

/// Indexes the rows of `table` (aliased `r`) that `condition` picks: at once when
/// `now`, else held back to go with the transaction's next round trip
/// ([`Tx::insert_later`]).
pub(super) fn index_rows(
    tx: &Tx<'_>,
    table: &str,
    layout: &SearchLayout,
    condition: &str,
    params: &[Value],
    now: bool,
) -> DomainResult<()> {
    let rows = tx.query(
        &format!(
            "SELECT r.rowid, {} FROM {} r WHERE {condition}",
            texts(layout, "r.").join(", "),
            quote_ident(table)
        ),
        params,
    )?;
    index_texts(tx, table, layout, &rows, 0, now)
}

/// Indexes rows given as their rowid (at `rowid` in each row) and their [`texts`] (the
/// values after it).
pub(super) fn index_texts(
    tx: &Tx<'_>,
    table: &str,
    layout: &SearchLayout,
    rows: &[crate::Row],
    rowid: usize,
    now: bool,
) -> DomainResult<()> {
    let fts = index_table(table);
    let columns: Vec<String> = layout
        .index_columns()
        .iter()
        .map(|c| quote_ident(c))
        .collect();
    let head = format!(
        "INSERT INTO {} (rowid, {}) VALUES",
        quote_ident(&fts),
        columns.join(", ")
    );
    let per_row = format!(
        "(?, {})",
        vec!["array_to_tsvector(string_to_array(?, ' '))"; columns.len()].join(", ")
    );
    let terms = rows
        .iter()
        .map(|row| {
            let mut values = Vec::with_capacity(columns.len() + 1);
            values.push(row.value(rowid).clone());
            for i in 0..columns.len() {
                let mut words = lexemes(&row.text(rowid + 1 + i)?);
                words.sort();
                words.dedup();
                values.push(Value::Text(words.join(" ")));
            }
            Ok(values)
        })
        .collect::<DomainResult<Vec<_>>>()?;
    match now {
        true => {
            let terms: Vec<&[Value]> = terms.iter().map(Vec::as_slice).collect();
            crate::database::insert_rows(&head, &per_row, &terms, |sql, params| {
                tx.execute(sql, params)
            })
        }
        false => tx.insert_later(&fts, &head, &per_row, terms),
    }
}

/// The index columns a search by `only` looks in, joined into one `tsvector`.
fn all_columns(layout: &SearchLayout, only: Option<&[String]>) -> String {
    std::iter::once("body".to_string())
        .chain(
            layout
                .apart
                .iter()
                .filter(|c| only.is_none_or(|o| o.contains(c)))
                .cloned(),
        )
        .map(|c| quote_ident(&c))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// Whether every word is common enough, by the index's statistics (its most common words
/// and their shares of the rows, gathered with the record table's), that more than
/// [`GATHER_AT_MOST`] rows hold it: then the matches are not asked for first, which would
/// read the index's list of every row holding the word (7 ms for a word in 100,000 rows).
/// Without statistics, no word is taken as common.
fn common(r: &impl Sql, table: &str, words: &[String]) -> DomainResult<bool> {
    let Some(stats) = r.query_one(
        "SELECT s.most_common_elems::text, s.most_common_elem_freqs::text, c.reltuples::float8 \
         FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename \
         AND c.relnamespace = current_schema()::regnamespace \
         WHERE s.schemaname = current_schema() AND s.tablename = ? AND s.attname = 'body'",
        &[Value::Text(index_table(table))],
    )?
    else {
        return Ok(false);
    };
    let (Some(elems), Some(freqs)) = (stats.opt_text(0)?, stats.opt_text(1)?) else {
        return Ok(false);
    };
    let rows = match stats.value(2) {
        Value::Real(f) => *f,
        Value::Integer(n) => *n as f64,
        _ => 0.0,
    };
    let list = |text: &str| -> Vec<String> {
        text.trim_matches(['{', '}'])
            .split(',')
            .map(|e| e.trim_matches('"').to_string())
            .collect()
    };
    let (elems, freqs) = (list(&elems), list(&freqs));
    let share_of = |lexeme: &str| -> f64 {
        elems
            .iter()
            .zip(&freqs)
            .filter(|(e, _)| e.starts_with(lexeme))
            .map(|(_, f)| f.parse::<f64>().unwrap_or(0.0))
            .sum()
    };
    Ok(words.iter().all(|word| {
        lexemes(word)
            .iter()
            .all(|l| share_of(l) * rows > GATHER_AT_MOST as f64)
    }))
}

/// At most this many matches are gathered first; past it, rows are walked in the query's
/// order and looked up in the index (see [`matching`]).
const GATHER_AT_MOST: usize = 2_000;

/// Rows holding every word of `text`, each as a prefix (a word that is several tokens,
/// `treats-headache`, needs all of them). As on SQLite, how depends on how many rows
/// match, which PostgreSQL's planner cannot tell for a prefix (it guesses 2% of the table
/// for any, and then walks a page's order through every row for a word in 7 of 100,000:
/// 250 ms). So the matches are asked for first, up to [`GATHER_AT_MOST`]: when that is all
/// of them, the query reads just those rows (`rowid = ANY(…)`); when there are more, a
/// common word, each row the query walks is looked up in the index, and the page ends
/// soon. `for_count` always gathers in SQL: a count reads every match anyway.
pub(super) fn matching(
    r: &impl Sql,
    table: &str,
    layout: &SearchLayout,
    row: &str,
    words: &[String],
    only: Option<&[String]>,
    for_count: bool,
) -> DomainResult<Option<Matching>> {
    let mut terms = Vec::new();
    for word in words {
        for lexeme in lexemes(word) {
            // Lexemes are letters and digits: nothing in them needs escaping.
            terms.push(format!("'{lexeme}':*"));
        }
    }
    if terms.is_empty() {
        return Ok(Some(Matching {
            condition: "FALSE".into(),
            params: Vec::new(),
        }));
    }
    let f = quote_ident(&index_table(table));
    let (columns, query) = (all_columns(layout, only), Value::Text(terms.join(" & ")));
    let matches =
        format!("SELECT rowid FROM {f} WHERE ({columns}) @@ CAST(CAST(? AS TEXT) AS tsquery)");
    if !for_count && !common(r, table, words)? {
        let found = r.query(
            &format!("{matches} LIMIT {}", GATHER_AT_MOST + 1),
            std::slice::from_ref(&query),
        )?;
        if found.len() <= GATHER_AT_MOST {
            let ids: Vec<String> = found
                .iter()
                .map(|r| r.int(0).map(|id| id.to_string()))
                .collect::<DomainResult<_>>()?;
            return Ok(Some(Matching {
                condition: format!("{row}.rowid = ANY(CAST(CAST(? AS TEXT) AS BIGINT[]))"),
                params: vec![Value::Text(format!("{{{}}}", ids.join(",")))],
            }));
        }
    }
    Ok(Some(Matching {
        condition: format!("{row}.rowid IN ({matches})"),
        params: vec![query],
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lexemes_fold_case_and_diacritics_and_cut_cjk() {
        assert_eq!(
            super::lexemes("Café naïve-ÉTÉ 头痛药"),
            ["cafe", "naive", "ete", "头痛", "痛药"]
        );
    }
}
