//! Indexes that follow use: the shapes of slow list queries are counted per definition
//! (which fields are tested for equality, which one for a range, the sort), and once a
//! shape has been slow often enough the index that serves it is built in the background,
//! kept on the definition with why it was built. A shape no index can serve (a substring
//! test) is only counted, and every list stops after the query time limit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use andibase_common::Timestamp;
use andibase_filter::{Predicate, Test};
use serde::{Deserialize, Serialize};

use crate::definition::{field_of, flat_name, DataDefinition, IndexSpec, SystemField};
use crate::query::SortKey;

/// How the server follows use (`andibase serve --slow-query-ms …`).
#[derive(Clone, Copy, Debug)]
pub struct UsageSettings {
    /// A list query that takes longer than this is slow.
    pub slow: Duration,
    /// So is one that takes this many steps of SQLite's machine (about 10 to 30 a row
    /// read): the work, whatever the machine's load.
    pub slow_steps: u64,
    /// A shape slow this many times gets its index.
    pub build_after: u64,
    /// A list query stops (and says so) after this long.
    pub time_limit: Duration,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            slow: Duration::from_millis(50),
            slow_steps: 200_000,
            build_after: 5,
            time_limit: Duration::from_secs(2),
        }
    }
}

/// What an index could use of a query: columns tested for equality, one column tested for
/// a range, the sort (before its id tie-break), columns tested for text inside them
/// ignoring case (`~`, which a substring index serves on PostgreSQL), and whether some
/// test no index can serve.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    equal: Vec<String>,
    range: Option<String>,
    sort: Vec<(String, bool)>,
    substring: Vec<String>,
    unindexable: Vec<String>,
}

impl Shape {
    /// The shape of a filter (its top-level `&&` tests on the definition's own columns)
    /// and a sort.
    pub(crate) fn of(predicate: Option<&Predicate>, keys: &[SortKey]) -> Shape {
        let mut shape = Shape::default();
        let tests: Vec<&Predicate> = match predicate {
            Some(Predicate::All(all)) => all.iter().collect(),
            Some(p) => vec![p],
            None => Vec::new(),
        };
        for p in tests {
            let Predicate::Test { column, test } = p else {
                continue;
            };
            match test {
                Test::Eq(_) | Test::In(_) | Test::IsNull => shape.equal.push(column.clone()),
                Test::Gt(_)
                | Test::Gte(_)
                | Test::Lt(_)
                | Test::Lte(_)
                | Test::Between(..)
                | Test::StartsWith(_) => {
                    // One range an index can use; a second is checked on its rows.
                    shape.range.get_or_insert_with(|| column.clone());
                }
                Test::ContainsIgnoringCase(_) => shape.substring.push(column.clone()),
                Test::Contains(_) | Test::EndsWith(_) => shape.unindexable.push(column.clone()),
                _ => {}
            }
        }
        shape.equal.sort();
        shape.equal.dedup();
        shape.sort = keys
            .iter()
            .filter(|k| k.column() != "id")
            .map(|k| (k.column().to_string(), k.desc()))
            .collect();
        shape
    }

    /// The index that serves this shape: the equality columns, then the sort (when the
    /// range, if any, is on the sort's first column) or else the range column. None when
    /// nothing could use one.
    fn index(&self, def: &DataDefinition) -> Option<IndexSpec> {
        let mut keys: Vec<(String, bool)> = self.equal.iter().map(|c| (c.clone(), false)).collect();
        match &self.range {
            Some(r) if self.sort.first().is_none_or(|(c, _)| c != r) => {
                keys.push((r.clone(), false))
            }
            _ => keys.extend(self.sort.iter().cloned()),
        }
        keys.dedup_by(|a, b| a.0 == b.0);
        if keys.is_empty() || keys.len() > 8 {
            return None;
        }
        let fields = keys
            .iter()
            .map(|(column, desc)| {
                let name = field_name(def, column)?;
                Some(if *desc { format!("-{name}") } else { name })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(IndexSpec {
            fields,
            unique: false,
            substring: false,
            auto: None,
        })
    }

    /// The index this shape asks for: none when some test no index serves; where it
    /// tests text inside a field (`~`), a substring index on the first such field when
    /// the engine has them (`substring_indexes`: PostgreSQL), none when it has not;
    /// otherwise [`Shape::index`].
    fn wanted(&self, def: &DataDefinition, substring_indexes: bool) -> Option<IndexSpec> {
        if !self.unindexable.is_empty() {
            return None;
        }
        match self.substring.first() {
            Some(_) if !substring_indexes => None,
            Some(column) => Some(IndexSpec {
                fields: vec![field_name(def, column)?],
                unique: false,
                substring: true,
                auto: None,
            }),
            None => self.index(def),
        }
    }

    /// The attribute keys the shape names.
    fn keys(&self) -> Vec<String> {
        self.equal
            .iter()
            .chain(&self.range)
            .chain(&self.substring)
            .chain(&self.unindexable)
            .chain(self.sort.iter().map(|(c, _)| c))
            .filter_map(|c| field_of(c).map(str::to_string))
            .collect()
    }

    /// In words, for people: `filter status (equal), dueAt (range); sort -dueAt`.
    fn describe(&self) -> String {
        let name = |c: &str| {
            field_of(c)
                .map(|k| flat_name(k).into_owned())
                .unwrap_or_else(|| {
                    SystemField::ALL
                        .into_iter()
                        .find(|f| f.column() == c)
                        .map_or(c.to_string(), |f| f.name().to_string())
                })
        };
        let mut tests: Vec<String> = self
            .equal
            .iter()
            .map(|c| format!("{} (equal)", name(c)))
            .collect();
        tests.extend(self.range.iter().map(|c| format!("{} (range)", name(c))));
        tests.extend(
            self.substring
                .iter()
                .chain(&self.unindexable)
                .map(|c| format!("{} (substring)", name(c))),
        );
        let sort: Vec<String> = self
            .sort
            .iter()
            .map(|(c, d)| format!("{}{}", if *d { "-" } else { "" }, name(c)))
            .collect();
        match (tests.is_empty(), sort.is_empty()) {
            (true, true) => "no filter, sorted by id".into(),
            (false, true) => format!("filter {}", tests.join(", ")),
            (true, false) => format!("sort {}", sort.join(", ")),
            (false, false) => format!("filter {}; sort {}", tests.join(", "), sort.join(", ")),
        }
    }
}

/// The name a query's `column` has in an index declaration (`status`, `createdAt`); none
/// for a field that holds many values.
fn field_name(def: &DataDefinition, column: &str) -> Option<String> {
    Some(match field_of(column) {
        Some(key) => {
            let spec = def.fields.get(key)?;
            if spec.is_multi() {
                return None;
            }
            flat_name(key).into_owned()
        }
        None => SystemField::ALL
            .into_iter()
            .find(|f| f.column() == column)?
            .name()
            .to_string(),
    })
}

/// Why the server built an index, kept on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoIndex {
    /// The shape it serves and how slow it was.
    pub reason: String,
    pub built_at: Timestamp,
}

/// What happens about a slow shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ShapeStatus {
    /// Counted; its index is built once it has been slow often enough.
    Waiting,
    /// Its index was built (or is being built).
    Built,
    /// The definition has that index already; the query is slow for another reason.
    Served,
    /// It tests a substring (or nothing an index can use): it stays a scan, bounded by
    /// the query time limit.
    Unindexable,
    /// The workspace turned automatic indexes off.
    Off,
}

/// A slow shape of one definition, as `GET …/slow-queries` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlowShape {
    pub shape: String,
    /// Slow queries of this shape since the server started.
    pub count: u64,
    pub slowest_ms: u64,
    pub last_seen: Timestamp,
    /// The index that would serve it (or serves it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexSpec>,
    pub status: ShapeStatus,
    /// The attributes the shape names, so a reader is shown only shapes of fields it sees.
    #[serde(skip)]
    pub(crate) keys: Vec<String>,
}

/// Slow shapes counted in this process, per database file and definition. Bounded: past
/// 10,000 shapes the least recently seen is forgotten.
#[derive(Default)]
pub struct QueryLog {
    pub settings: UsageSettings,
    shapes: Mutex<HashMap<(PathBuf, String, Shape), SlowShape>>,
}

const MAX_SHAPES: usize = 10_000;

impl QueryLog {
    /// Whether a list that took `took` and `steps` is slow.
    pub(crate) fn is_slow(&self, took: Duration, steps: u64) -> bool {
        took >= self.settings.slow || steps >= self.settings.slow_steps
    }

    pub fn new(settings: UsageSettings) -> QueryLog {
        QueryLog {
            settings,
            shapes: Mutex::default(),
        }
    }

    /// A log that counts nothing and stops nothing, for the operator's command line
    /// (an export reads as long as it takes).
    pub fn inert() -> QueryLog {
        QueryLog::new(UsageSettings {
            slow: Duration::MAX,
            slow_steps: u64::MAX,
            build_after: u64::MAX,
            time_limit: Duration::from_secs(365 * 24 * 3600),
        })
    }

    fn shapes(&self) -> std::sync::MutexGuard<'_, HashMap<(PathBuf, String, Shape), SlowShape>> {
        self.shapes.lock().expect("query log poisoned")
    }

    /// Counts a slow query of `shape` on `def`; the index to build now, if any
    /// (`substring_indexes`: whether the engine has substring indexes).
    pub(crate) fn record(
        &self,
        db: &Path,
        def: &DataDefinition,
        shape: Shape,
        took: Duration,
        now: Timestamp,
        substring_indexes: bool,
    ) -> Option<IndexSpec> {
        let index = shape.wanted(def, substring_indexes);
        let served = index.as_ref().is_some_and(|i| {
            def.indexes.iter().any(|d| d.is_like(i))
                || (i.fields.len() == 1
                    && !i.substring
                    && def
                        .fields
                        .get(i.fields[0].trim_start_matches('-'))
                        .is_some_and(|f| f.indexed))
        });
        let mut shapes = self.shapes();
        if shapes.len() >= MAX_SHAPES {
            if let Some(oldest) = shapes
                .iter()
                .min_by_key(|(_, s)| s.last_seen.0)
                .map(|(k, _)| k.clone())
            {
                shapes.remove(&oldest);
            }
        }
        let (description, keys) = (shape.describe(), shape.keys());
        let entry = shapes
            .entry((db.to_path_buf(), def.id.clone(), shape))
            .or_insert_with(|| SlowShape {
                shape: description,
                count: 0,
                slowest_ms: 0,
                last_seen: now,
                index: index.clone(),
                status: ShapeStatus::Waiting,
                keys,
            });
        entry.count += 1;
        entry.slowest_ms = entry.slowest_ms.max(took.as_millis() as u64);
        entry.last_seen = now;
        entry.status = match (&index, served, entry.status) {
            (None, _, _) => ShapeStatus::Unindexable,
            (_, _, ShapeStatus::Built) => ShapeStatus::Built,
            (_, true, _) => ShapeStatus::Served,
            _ => ShapeStatus::Waiting,
        };
        match (entry.status, index) {
            (ShapeStatus::Waiting, Some(mut index)) if entry.count >= self.settings.build_after => {
                entry.status = ShapeStatus::Built;
                index.auto = Some(AutoIndex {
                    reason: format!(
                        "{} slow queries (the slowest {} ms): {}",
                        entry.count, entry.slowest_ms, entry.shape
                    ),
                    built_at: now,
                });
                Some(index)
            }
            _ => None,
        }
    }

    /// Says what became of the shapes `index` serves (built, turned off, there already).
    pub(crate) fn set_status(
        &self,
        db: &Path,
        def_id: &str,
        index: &IndexSpec,
        status: ShapeStatus,
    ) {
        for ((path, id, _), s) in self.shapes().iter_mut() {
            if path == db && id == def_id && s.index.as_ref().is_some_and(|i| i.is_like(index)) {
                s.status = status;
            }
        }
    }

    /// The slow shapes of a definition, most often slow first.
    pub(crate) fn of_definition(&self, db: &Path, def_id: &str) -> Vec<SlowShape> {
        let mut out: Vec<SlowShape> = self
            .shapes()
            .iter()
            .filter(|((path, id, _), _)| path == db && id == def_id)
            .map(|(_, s)| s.clone())
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(b.slowest_ms.cmp(&a.slowest_ms)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{compile_filter, sort_keys};
    use andibase_common::Role;
    use serde_json::json;

    fn tickets() -> DataDefinition {
        DataDefinition {
            id: "d1".into(),
            handle: "tickets".into(),
            name: "Tickets".into(),
            description: None,
            fields: serde_json::from_value(json!({
                "status": {"type": "text"}, "amount": {"type": "number"}, "due": {"type": "datetime"},
                "title": {"type": "text"}, "tags": {"type": "multiSelect", "options": [{"value": "a"}]},
                "createdAt": {"type": "text"}
            }))
            .unwrap(),
            indexes: Vec::new(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            table: "rec_d1".into(),
        }
    }

    /// The index a shape asks for: equality fields first, then the sort when the range is
    /// on its first key, else the range; a substring index for `~` on PostgreSQL only;
    /// nothing for multi-values or no shape.
    #[test]
    fn shapes_ask_for_the_index_that_serves_them() {
        let def = tickets();
        let index = |filter: Option<&str>, sort: Option<&str>| {
            let p = compile_filter(&[], &def, filter, Role::Admin).unwrap();
            let keys = sort_keys(&def, sort, Role::Admin).unwrap();
            let shape = Shape::of(p.as_ref(), &keys);
            (
                shape.describe(),
                shape.wanted(&def, false).map(|i| i.fields),
            )
        };
        // On PostgreSQL, which has substring indexes.
        let on_postgres = |filter: &str| {
            let p = compile_filter(&[], &def, Some(filter), Role::Admin).unwrap();
            let shape = Shape::of(p.as_ref(), &[]);
            shape.wanted(&def, true).map(|i| (i.fields, i.substring))
        };
        let fields = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            index(Some("status = \"open\" && amount > 5"), Some("-amount")),
            (
                "filter status (equal), amount (range); sort -amount".into(),
                fields(&["status", "-amount"])
            )
        );
        assert_eq!(
            index(Some("amount > 5 && status = \"open\""), Some("-createdAt")).1,
            fields(&["status", "amount"]),
            "a range off the sort's key ends the index"
        );
        assert_eq!(
            index(None, Some("-createdAt,title")).1,
            fields(&["-createdAt", "title"])
        );
        assert_eq!(
            index(Some("attributes.createdAt = \"x\""), None).1,
            fields(&["attributes.createdAt"])
        );
        assert_eq!(
            index(Some("title ~ \"jam\""), None),
            ("filter title (substring)".into(), None),
            "SQLite has no substring index"
        );
        let title = Some((vec!["title".to_string()], true));
        assert_eq!(on_postgres("title ~ \"jam\""), title);
        assert_eq!(
            on_postgres("status = \"open\" && title ~ \"jam\""),
            title,
            "a substring test asks for its index before equality does"
        );
        assert_eq!(
            on_postgres("status = \"open\""),
            Some((vec!["status".to_string()], false))
        );
        assert_eq!(
            on_postgres("title ~ \"jam\" && title contains \"x\""),
            None,
            "a case-sensitive `contains` no index serves"
        );
        assert_eq!(index(Some("tags ?= \"a\""), None).1, None);
        assert_eq!(index(None, None), ("no filter, sorted by id".into(), None));
        assert_eq!(
            index(Some("status = \"a\" || amount = 1"), None).1,
            None,
            "an `||` is no shape an index serves"
        );
    }
}
