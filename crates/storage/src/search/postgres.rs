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
use crate::{quote_ident, Sql, Value};

/// Rows written per `INSERT` into the index.
const ROWS_PER_INSERT: usize = 200;

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

pub(super) fn rebuild(tx: &impl Sql, table: &str, layout: &SearchLayout) -> DomainResult<()> {
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
    // One index over every column: what a search without `only` looks in.
    tx.execute(
        &format!(
            "CREATE INDEX {} ON {f} USING GIN (({}))",
            quote_ident(&format!("{}_gin", index_table(table))),
            all_columns(layout, None)
        ),
        &[],
    )?;
    index_rows(tx, table, layout, "TRUE", &[])
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

/// Indexes the rows of `table` (aliased `r`) that `condition` picks.
pub(super) fn index_rows(
    tx: &impl Sql,
    table: &str,
    layout: &SearchLayout,
    condition: &str,
    params: &[Value],
) -> DomainResult<()> {
    let text_of = |cols: &[String]| -> String {
        match cols.is_empty() {
            true => "''".into(),
            false => cols
                .iter()
                .map(|c| format!("coalesce(r.{}::text, '')", quote_ident(c)))
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
    let rows = tx.query(
        &format!(
            "SELECT r.rowid, {} FROM {} r WHERE {condition}",
            texts.join(", "),
            quote_ident(table)
        ),
        params,
    )?;
    let f = quote_ident(&index_table(table));
    let columns: Vec<String> = layout
        .index_columns()
        .iter()
        .map(|c| quote_ident(c))
        .collect();
    let per_row = format!(
        "(?, {})",
        vec!["array_to_tsvector(string_to_array(?, ' '))"; columns.len()].join(", ")
    );
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len() * (columns.len() + 1));
        for row in chunk {
            values.push(row.value(0).clone());
            for i in 0..columns.len() {
                let text = row.text(i + 1)?;
                let mut words = lexemes(&text);
                words.sort();
                words.dedup();
                values.push(Value::Text(words.join(" ")));
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO {f} (rowid, {}) VALUES {}",
                columns.join(", "),
                vec![per_row.as_str(); chunk.len()].join(", ")
            ),
            &values,
        )?;
    }
    Ok(())
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

/// Rows holding every word of `text`, each as a prefix (a word that is several tokens,
/// `treats-headache`, needs all of them).
pub(super) fn matching(
    table: &str,
    layout: &SearchLayout,
    row: &str,
    words: &[String],
    only: Option<&[String]>,
) -> Option<Matching> {
    let mut terms = Vec::new();
    for word in words {
        for lexeme in lexemes(word) {
            // Lexemes are letters and digits: nothing in them needs escaping.
            terms.push(format!("'{lexeme}':*"));
        }
    }
    if terms.is_empty() {
        return Some(Matching {
            condition: "FALSE".into(),
            params: Vec::new(),
        });
    }
    let f = quote_ident(&index_table(table));
    Some(Matching {
        condition: format!(
            "{row}.rowid IN (SELECT rowid FROM {f} WHERE ({}) @@ CAST(CAST(? AS TEXT) AS tsquery))",
            all_columns(layout, only)
        ),
        params: vec![Value::Text(terms.join(" & "))],
    })
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
