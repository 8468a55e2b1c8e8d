//! Changing a definition in three steps: [`plan`] decides from the definition and the
//! patch alone what the table must become (a pure function); [`verify`] checks the plan
//! against the records that exist (required fields, values that must convert) and turns
//! it into schema changes; the caller applies those in the same transaction.

use std::collections::BTreeMap;

use andibase_common::{DomainError, DomainResult, FieldIssue};
use andibase_storage::schema::SchemaChange;
use andibase_storage::{quote_ident, Sql};

use crate::definition::{
    check_field, column_of, flat_name, valid_key, DataDefinition, FieldName, FieldSpec, FieldType,
    IndexSpec, UpdateDefinition, MAX_FIELDS,
};
use crate::tables::{
    check_declared_indexes, column_type, declared_indexes, drop_declared_indexes, drop_indexes,
    drop_sort_indexes, field_changes, sort_indexes,
};

/// What an update will do, before any record is read.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The definition as it will be.
    pub def: DataDefinition,
    /// Where the changed fields are in the request (`fields` or `attributes`).
    pub at: &'static str,
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
    /// What is wrong with the patch itself.
    pub issues: Vec<FieldIssue>,
}

/// One step of the table's change, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    Change(SchemaChange),
    Convert(Box<Conversion>),
}

/// Copy every value of `field` from `column`, converted from `from` to `to`, into `into`
/// (a column added by an earlier step). Verified by reading the values.
#[derive(Debug, PartialEq)]
pub(crate) struct Conversion {
    field: String,
    column: String,
    into: String,
    from: FieldSpec,
    to: FieldSpec,
}

/// What existing records must satisfy for the plan to go ahead. Columns are named as
/// they are before the change.
#[derive(Debug, PartialEq)]
pub(crate) enum Check {
    /// A new required field without a default: there must be no records yet.
    NoRecords { field: String },
    /// A field that is (now) required: no record may lack a value.
    NoneMissing { field: String, column: String },
}

/// Plans `patch` on `def`, given every definition of the workspace (`all`, for
/// relationship targets).
pub(crate) fn plan(all: &[DataDefinition], def: DataDefinition, patch: UpdateDefinition) -> Plan {
    let mut def = def;
    let mut issues = Vec::new();
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    let table = def.table.clone();
    if let Some(n) = &patch.name {
        if n.trim().is_empty() || n.chars().count() > 200 {
            issues.push(FieldIssue::at(["name"], "must be 1 to 200 characters"));
        }
        def.name = n.trim().to_string();
    }
    if let Some(d) = patch.description {
        def.description = d;
    }
    let before = def.fields.clone();
    let indexes_before = def.indexes.clone();
    // Where each field's column is before the change (renames come first).
    let mut column_now: BTreeMap<String, String> = def
        .fields
        .keys()
        .map(|k| (k.clone(), column_of(k)))
        .collect();
    for (old, new) in patch.rename_fields.unwrap_or_default() {
        match def.fields.remove(&old) {
            None => issues.push(FieldIssue::at(["renameFields", &old], "no such field")),
            Some(spec) if !valid_key(&new) || def.fields.contains_key(&new) => {
                issues.push(FieldIssue::at(
                    ["renameFields", &old],
                    format!("`{new}` is not a free, valid field key"),
                ));
                def.fields.insert(old, spec);
            }
            Some(spec) => {
                steps.extend(drop_indexes(&table, &old).into_iter().map(Step::Change));
                steps.push(Step::Change(SchemaChange::RenameColumn {
                    table: table.clone(),
                    from: column_of(&old),
                    to: column_of(&new),
                }));
                steps.extend(
                    field_changes(&table, &new, &spec, false)
                        .into_iter()
                        .map(Step::Change),
                );
                if let Some(column) = column_now.remove(&old) {
                    column_now.insert(new.clone(), column);
                }
                rename_in_indexes(&mut def.indexes, &old, &new);
                def.fields.insert(new, spec);
            }
        }
    }
    let (changes, at) = match (patch.fields, patch.attributes) {
        (Some(f), _) => (f, "fields"),
        (None, Some(a)) => (a, "attributes"),
        (None, None) => (BTreeMap::new(), "fields"),
    };
    for (key, field_change) in changes {
        let existing = def.fields.get(&key).cloned();
        let Some(input) = field_change else {
            if existing.is_none() {
                issues.push(FieldIssue::at([at, &key], "no such field to remove"));
                continue;
            }
            steps.extend(drop_indexes(&table, &key).into_iter().map(Step::Change));
            steps.push(Step::Change(SchemaChange::DropColumn {
                table: table.clone(),
                column: column_of(&key),
            }));
            def.fields.remove(&key);
            // Like dropping a column in SQL: the indexes that name it go with it.
            def.indexes.retain(|spec| !names_field(spec, &key));
            continue;
        };
        let Some(spec) = check_field(all, &key, input, at, &def.id, &mut issues) else {
            continue;
        };
        let column = column_now
            .get(&key)
            .cloned()
            .unwrap_or_else(|| column_of(&key));
        let changing = existing.is_some();
        match existing {
            None => {
                if spec.required && spec.default.is_none() {
                    checks.push(Check::NoRecords { field: key.clone() });
                }
                steps.extend(
                    field_changes(&table, &key, &spec, true)
                        .into_iter()
                        .map(Step::Change),
                );
                if let Some(value) = spec
                    .default
                    .as_ref()
                    .and_then(|d| crate::value::to_sql(&spec, d).ok())
                {
                    // Existing records take the default.
                    steps.push(Step::Change(SchemaChange::Fill {
                        table: table.clone(),
                        column: column_of(&key),
                        value,
                        id: None,
                    }));
                }
            }
            Some(old) if old.field_type() != spec.field_type() || old.many != spec.many => {
                // A new column of the new type takes the converted values, then replaces
                // the old one.
                let into = format!("{}__new", column_of(&key));
                steps.extend(drop_indexes(&table, &key).into_iter().map(Step::Change));
                steps.push(Step::Change(SchemaChange::AddColumn {
                    table: table.clone(),
                    column: into.clone(),
                    kind: column_type(&spec),
                }));
                steps.push(Step::Convert(Box::new(Conversion {
                    field: key.clone(),
                    column: column.clone(),
                    into: into.clone(),
                    from: old,
                    to: spec.clone(),
                })));
                steps.push(Step::Change(SchemaChange::DropColumn {
                    table: table.clone(),
                    column: column_of(&key),
                }));
                steps.push(Step::Change(SchemaChange::RenameColumn {
                    table: table.clone(),
                    from: into,
                    to: column_of(&key),
                }));
            }
            Some(_) => {
                steps.extend(drop_indexes(&table, &key).into_iter().map(Step::Change));
            }
        }
        if changing {
            let unique = field_changes(&table, &key, &spec, false);
            steps.extend(unique.into_iter().map(Step::Change));
            if spec.required {
                checks.push(Check::NoneMissing {
                    field: key.clone(),
                    column,
                });
            }
        }
        def.fields.insert(key, spec);
    }
    if def.fields.len() > MAX_FIELDS {
        issues.push(FieldIssue::at([at], format!("at most {MAX_FIELDS} fields")));
    }
    if let Some(indexes) = patch.indexes {
        def.indexes = indexes;
    }
    check_declared_indexes(&def.fields, &def.indexes, &mut issues);
    if !steps.is_empty() {
        // Sort and declared indexes name several fields' columns: drop them before any
        // column changes and build them again for the new fields.
        let drops = drop_sort_indexes(&table, &before)
            .into_iter()
            .chain(drop_declared_indexes(&table, &indexes_before))
            .map(Step::Change);
        steps.splice(0..0, drops);
        steps.extend(
            sort_indexes(&table, &def.fields)
                .into_iter()
                .chain(declared_indexes(&table, &def.fields, &def.indexes))
                .map(Step::Change),
        );
    } else {
        // Only the declared indexes change: drop those gone, build those new.
        let gone: Vec<IndexSpec> = indexes_before
            .iter()
            .filter(|s| !def.indexes.contains(s))
            .cloned()
            .collect();
        let new: Vec<IndexSpec> = def
            .indexes
            .iter()
            .filter(|s| !indexes_before.contains(s))
            .cloned()
            .collect();
        steps.extend(
            drop_declared_indexes(&table, &gone)
                .into_iter()
                .chain(declared_indexes(&table, &def.fields, &new))
                .map(Step::Change),
        );
    }
    Plan {
        def,
        at,
        steps,
        checks,
        issues,
    }
}

/// Whether a declared index names the attribute `key`.
fn names_field(spec: &IndexSpec, key: &str) -> bool {
    spec.fields.iter().any(|name| {
        FieldName::parse(name.strip_prefix('-').unwrap_or(name)) == FieldName::Attribute(key)
    })
}

/// Renames the attribute `old` to `new` wherever a declared index names it, keeping its
/// direction.
fn rename_in_indexes(indexes: &mut [IndexSpec], old: &str, new: &str) {
    for name in indexes.iter_mut().flat_map(|spec| spec.fields.iter_mut()) {
        let (sign, bare) = name
            .strip_prefix('-')
            .map_or(("", name.as_str()), |n| ("-", n));
        if FieldName::parse(bare) == FieldName::Attribute(old) {
            *name = format!("{sign}{}", flat_name(new));
        }
    }
}

fn count(tx: &impl Sql, sql: &str) -> DomainResult<i64> {
    tx.query_one(sql, &[])?.map_or(Ok(0), |r| r.int(0))
}

/// Checks the plan against the records there are and gives the schema changes to apply,
/// or every issue found (with the plan's own).
pub(crate) fn verify(tx: &impl Sql, plan: &mut Plan) -> DomainResult<Vec<SchemaChange>> {
    let mut issues = std::mem::take(&mut plan.issues);
    let at = plan.at;
    let t = quote_ident(&plan.def.table);
    for check in &plan.checks {
        match check {
            Check::NoRecords { field } => {
                if count(tx, &format!("SELECT count(*) FROM {t}"))? > 0 {
                    issues.push(FieldIssue::at(
                        [at, field, "required"],
                        "a new required field needs a default while records exist",
                    ));
                }
            }
            Check::NoneMissing { field, column } => {
                let c = quote_ident(column);
                let missing = count(tx, &format!("SELECT count(*) FROM {t} WHERE {c} IS NULL"))?;
                if missing > 0 {
                    issues.push(FieldIssue::at(
                        [at, field, "required"],
                        format!("{missing} existing records have no value"),
                    ));
                }
            }
        }
    }
    let mut changes = Vec::new();
    for step in std::mem::take(&mut plan.steps) {
        match step {
            Step::Change(c) => changes.push(c),
            Step::Convert(conversion) => {
                let Conversion {
                    field,
                    column,
                    into,
                    from,
                    to,
                } = *conversion;
                let c = quote_ident(&column);
                let rows = tx.query(
                    &format!("SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL"),
                    &[],
                )?;
                if to.field_type() == FieldType::Relationship && !rows.is_empty() {
                    issues.push(FieldIssue::at([at, &field, "type"], "existing values cannot be turned into relationships; add a new relationship field instead"));
                    continue;
                }
                let mut failures = Vec::new();
                for row in &rows {
                    let shown = crate::value::to_json(&from, row.value(1));
                    match crate::value::convert(&shown, &to) {
                        Ok(value) => changes.push(SchemaChange::Fill {
                            table: plan.def.table.clone(),
                            column: into.clone(),
                            value,
                            id: Some(row.text(0)?),
                        }),
                        Err(_) => failures.push(format!("{} ({shown})", row.text(0)?)),
                    }
                }
                if !failures.is_empty() {
                    issues.push(FieldIssue::at(
                        [at, &field, "type"],
                        format!(
                            "{} existing records cannot become {}: e.g. {}",
                            failures.len(),
                            to.field_type().name(),
                            failures[..failures.len().min(3)].join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if issues.is_empty() {
        Ok(changes)
    } else {
        Err(DomainError::from_issues(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andibase_common::Timestamp;
    use andibase_storage::Value as SqlValue;
    use serde_json::json;

    fn definition(fields: serde_json::Value) -> DataDefinition {
        DataDefinition {
            id: "d1".into(),
            handle: "orders".into(),
            name: "Orders".into(),
            description: None,
            fields: serde_json::from_value(fields).unwrap(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            table: "rec_d1".into(),
            indexes: Vec::new(),
        }
    }

    fn patch(v: serde_json::Value) -> UpdateDefinition {
        serde_json::from_value(v).unwrap()
    }

    fn changes(p: &Plan) -> Vec<&SchemaChange> {
        p.steps
            .iter()
            .filter_map(|s| match s {
                Step::Change(c) => Some(c),
                Step::Convert(_) => None,
            })
            .collect()
    }

    /// Declared indexes follow renames, go with a removed field, and an index change alone
    /// drops and builds only the indexes that changed.
    #[test]
    fn declared_indexes_follow_their_fields() {
        let mut def = definition(json!({
            "status": {"type": "text"}, "amount": {"type": "number"}, "tags": {"type": "multiSelect", "options": [{"value": "a"}]}
        }));
        def.indexes = serde_json::from_value(json!([
            {"fields": ["status", "-amount"]}, {"fields": ["amount"], "unique": true}
        ]))
        .unwrap();
        let p = plan(
            &[],
            def.clone(),
            patch(json!({"renameFields": {"amount": "createdAt"}})),
        );
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        let names: Vec<_> = p.def.indexes.iter().map(|i| i.fields.clone()).collect();
        assert_eq!(
            names,
            [
                vec!["status".to_string(), "-attributes.createdAt".into()],
                vec!["attributes.createdAt".into()]
            ]
        );
        let keys = crate::tables::index_keys(&p.def.fields, &p.def.indexes[0]);
        assert_eq!(
            keys.iter()
                .map(|k| (k.column.as_str(), k.descending))
                .collect::<Vec<_>>(),
            [("f_status", false), ("f_createdAt", true), ("id", true)],
            "the id follows in the last key's direction"
        );

        let p = plan(&[], def.clone(), patch(json!({"fields": {"amount": null}})));
        assert!(p.def.indexes.is_empty(), "{:?}", p.def.indexes);

        // Only indexes change: the unique one is dropped, a new one built, nothing else.
        let p = plan(
            &[],
            def.clone(),
            patch(
                json!({"indexes": [{"fields": ["status", "-amount"]}, {"fields": ["-createdAt", "status"]}]}),
            ),
        );
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        let c = changes(&p);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(matches!(c[0], SchemaChange::DropIndex { name } if name.starts_with("cx_rec_d1_")));
        assert!(
            matches!(c[1], SchemaChange::CreateKeyIndex { keys, unique: false, .. } if keys[0].column == "created_at" && keys[0].descending)
        );

        let p = plan(
            &[],
            def,
            patch(
                json!({"indexes": [{"fields": []}, {"fields": ["nope", "tags", "status", "status"]}, {"fields": ["amount"]}, {"fields": ["amount"]}]}),
            ),
        );
        let paths: Vec<_> = p.issues.iter().map(|i| json!(i.path)).collect();
        assert_eq!(
            paths,
            [
                json!(["indexes", 0, "fields"]),
                json!(["indexes", 1, "fields", 0]),
                json!(["indexes", 1, "fields", 1]),
                json!(["indexes", 1, "fields", 3]),
                json!(["indexes", 3]),
            ],
            "{:?}",
            p.issues
        );
    }

    #[test]
    fn a_name_change_touches_no_table() {
        let def = definition(json!({"title": {"type": "text"}}));
        let p = plan(&[], def, patch(json!({"name": "Sales"})));
        assert_eq!(p.def.name, "Sales");
        assert!(p.steps.is_empty() && p.checks.is_empty() && p.issues.is_empty());
    }

    #[test]
    fn renames_come_first_and_new_fields_take_their_default() {
        let def = definition(
            json!({"title": {"type": "text"}, "amount": {"type": "number", "indexed": true}}),
        );
        let p = plan(
            &[],
            def,
            patch(json!({
                "renameFields": {"title": "headline"},
                "fields": {"done": {"type": "boolean", "default": false}, "amount": null}
            })),
        );
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        assert_eq!(
            p.def.fields.keys().collect::<Vec<_>>(),
            ["done", "headline"]
        );
        let c = changes(&p);
        // The sort indexes (the system ones, then `amount`'s) are dropped before any
        // column changes.
        assert_eq!(
            c[..4],
            [
                &SchemaChange::DropIndex {
                    name: "ix_rec_d1__created_at".into()
                },
                &SchemaChange::DropIndex {
                    name: "ix_rec_d1__updated_at".into()
                },
                &SchemaChange::DropIndex {
                    name: "ix_rec_d1_amount".into()
                },
                &SchemaChange::DropIndex {
                    name: "ix_rec_d1_title".into()
                }
            ]
        );
        let rename = c
            .iter()
            .position(|c| matches!(c, SchemaChange::RenameColumn { .. }))
            .unwrap();
        let add = c
            .iter()
            .position(|c| matches!(c, SchemaChange::AddColumn { column, .. } if column == "f_done"))
            .unwrap();
        assert!(rename < add);
        assert!(c.contains(&&SchemaChange::Fill {
            table: "rec_d1".into(),
            column: "f_done".into(),
            value: SqlValue::Integer(0),
            id: None
        }));
        assert!(c.contains(&&SchemaChange::DropColumn {
            table: "rec_d1".into(),
            column: "f_amount".into()
        }));
        assert!(p.checks.is_empty(), "a default fills existing records");
    }

    #[test]
    fn a_type_change_converts_into_a_new_column_and_checks_the_old_one() {
        let def = definition(json!({"paid": {"type": "text"}}));
        let p = plan(
            &[],
            def,
            patch(
                json!({"renameFields": {"paid": "settled"}, "fields": {"settled": {"type": "boolean", "required": true}}}),
            ),
        );
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        let convert = p
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Convert(c) => Some((c.column.clone(), c.into.clone())),
                _ => None,
            })
            .unwrap();
        // The values are read before the rename runs, so from the old column.
        assert_eq!(
            convert,
            ("f_paid".to_string(), "f_settled__new".to_string())
        );
        assert_eq!(
            p.checks,
            [Check::NoneMissing {
                field: "settled".into(),
                column: "f_paid".into()
            }]
        );
    }

    #[test]
    fn every_problem_of_the_patch_is_an_issue_with_its_path() {
        let def = definition(json!({"title": {"type": "text"}, "body": {"type": "text"}}));
        let others = [definition(json!({}))];
        let p = plan(
            &others,
            def,
            patch(json!({
                "name": " ",
                "renameFields": {"title": "body", "ghost": "x"},
                "fields": {"nope": null, "colour": {"type": "colour"}, "needed": {"type": "text", "required": true}}
            })),
        );
        let paths: Vec<serde_json::Value> = p
            .issues
            .iter()
            .map(|i| serde_json::Value::Array(i.path.clone()))
            .collect();
        for want in [
            json!(["name"]),
            json!(["renameFields", "title"]),
            json!(["renameFields", "ghost"]),
            json!(["fields", "nope"]),
            json!(["fields", "colour", "type"]),
        ] {
            assert!(paths.contains(&want), "{want} in {paths:?}");
        }
        assert!(
            p.def.fields.contains_key("title"),
            "a refused rename keeps the field"
        );
        assert_eq!(
            p.checks,
            [Check::NoRecords {
                field: "needed".into()
            }]
        );
    }
}
