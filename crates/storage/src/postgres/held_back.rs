//! Rows a write transaction inserts only when it must (see
//! [`super::Session::insert_later`]): a write's event and search terms, which nothing
//! reads back before the commit.
//!
//! In a write group the rows of the writes that are done stay held past their savepoint
//! renewal and go with the commit, every row of a kind in one statement: a group of 32
//! single-record writes inserts its events and its search terms in two statements, not 64.
//! Rows sent before that (a statement naming their table, a `Tx::attempt`'s savepoint)
//! went after the savepoint `write`; if the write then running is undone to it, so are
//! they, and they are held again.

use andibase_common::DomainResult;

use super::values;
use crate::value::Value;

/// Rows held back at most: past it they are inserted at once.
pub(super) const MOST_HELD_BACK: usize = 10_000;

#[derive(Default)]
pub(super) struct HeldBack {
    /// Each row with its kind's place in `kinds`, in the order held.
    rows: Vec<(usize, Vec<Value>)>,
    /// Kept until the transaction ends: rows held again refer to them.
    kinds: Vec<Kind>,
    /// How many of `rows` (the first ones) belong to writes of the group that are done.
    done: usize,
    /// Rows of writes that are done, sent since the savepoint `write` was last set.
    sent_since_savepoint: Vec<(usize, Vec<Value>)>,
}

/// A kind of row: its table, its statement's `INSERT INTO … VALUES` and its `(?, …)`.
#[derive(PartialEq)]
struct Kind {
    table: String,
    head: String,
    row: String,
}

impl HeldBack {
    /// Holds `rows` of a kind; whether so many are held that they should go now.
    pub(super) fn hold(
        &mut self,
        table: &str,
        head: &str,
        row: &str,
        rows: Vec<Vec<Value>>,
    ) -> bool {
        let kind = Kind {
            table: table.to_string(),
            head: head.to_string(),
            row: row.to_string(),
        };
        let at = match self.kinds.iter().position(|k| *k == kind) {
            Some(at) => at,
            None => {
                self.kinds.push(kind);
                self.kinds.len() - 1
            }
        };
        self.rows
            .extend(rows.into_iter().map(|params| (at, params)));
        self.rows.len() > MOST_HELD_BACK
    }

    /// Whether rows are held for a table `sql` names (by its text: a false match costs
    /// only an early insert).
    pub(super) fn named_in(&self, sql: &str) -> bool {
        !self.rows.is_empty() && self.kinds.iter().any(|k| sql.contains(&k.table))
    }

    /// The statements that insert every row held (each kind many rows to a statement),
    /// with the values written out as literals; nothing is held after.
    pub(super) fn take_statements(&mut self) -> DomainResult<String> {
        let rows = std::mem::take(&mut self.rows);
        let done = std::mem::take(&mut self.done);
        self.sent_since_savepoint
            .extend(rows[..done].iter().cloned());
        let mut sql = String::new();
        for (at, kind) in self.kinds.iter().enumerate() {
            let params: Vec<&[Value]> = rows
                .iter()
                .filter(|(k, _)| *k == at)
                .map(|(_, p)| p.as_slice())
                .collect();
            crate::database::insert_rows(&kind.head, &kind.row, &params, |statement, params| {
                sql.push_str(&values::with_literals(statement, params)?);
                sql.push_str(";\n");
                Ok(0)
            })?;
        }
        Ok(sql)
    }

    /// The write running is done and its savepoint renewed: its rows stay held.
    pub(super) fn write_done(&mut self) {
        self.done = self.rows.len();
        self.sent_since_savepoint.clear();
    }

    /// The write running was undone to the savepoint `write`: its rows go, and the rows
    /// of writes done that it sent (undone with it) are held again.
    pub(super) fn undo_write(&mut self) {
        self.rows.truncate(self.done);
        let again = std::mem::take(&mut self.sent_since_savepoint);
        self.rows.splice(0..0, again);
        self.done = self.rows.len();
    }

    /// Undone to a savepoint of the write itself (`Tx::attempt`): the rows held since go.
    /// (Setting that savepoint sent every row held before it.)
    pub(super) fn undo_attempt(&mut self) {
        self.rows.truncate(self.done);
    }

    /// The transaction ended.
    pub(super) fn clear(&mut self) {
        *self = HeldBack::default();
    }
}
