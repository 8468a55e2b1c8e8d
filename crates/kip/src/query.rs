//! FIND: projection into the column-major result, implicit grouping, ORDER BY with nulls
//! last, LIMIT and an opaque offset cursor (spec §4).

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Number, Value};

use crate::ast::*;
use crate::error::{KipError, Result};
use crate::solve::{eval_clauses, Ctx, Solutions, Table};
use crate::value::{compare, order, value_of, Binding};

const CURSOR_PREFIX: &str = "kc1.";

pub fn encode_cursor(offset: usize) -> String {
    format!("{CURSOR_PREFIX}{offset:x}")
}

pub fn decode_cursor(cursor: Option<&str>) -> Result<usize> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| KipError::syntax(format!("malformed cursor {c:?}"))),
    }
}

/// Returns the page of `items` after `cursor`, and the cursor of the next page if any.
pub fn page<T>(
    items: Vec<T>,
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<String>)> {
    let offset = decode_cursor(cursor)?;
    let mut page: Vec<T> = items.into_iter().skip(offset).collect();
    let mut next = None;
    if let Some(limit) = limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if page.len() > limit {
            page.truncate(limit);
            next = Some(encode_cursor(offset + limit));
        }
    }
    Ok((page, next))
}

fn item_var(item: &FindItem) -> &str {
    match item {
        FindItem::Path(p) => &p.var,
        FindItem::Aggregate(a) => &a.path.var,
    }
}

/// One output column: a variable's paths (a tuple when several) or one aggregate.
enum Column {
    Var { var: String, fields: Vec<Field> },
    Aggregate(Aggregate),
}

pub struct Answer {
    pub result: Value,
    pub next_cursor: Option<String>,
}

pub fn find(ctx: &Ctx<'_, '_>, find: &Find) -> Result<Answer> {
    let mut sols = Solutions::default();
    eval_clauses(ctx, &mut sols, &find.clauses, true)?;
    project(
        ctx,
        &sols,
        &find.items,
        &find.order,
        find.limit,
        find.cursor.as_deref(),
    )
}

pub fn check_bound(sols: &Solutions, var: &str) -> Result<()> {
    if sols.is_bound(var) {
        Ok(())
    } else {
        Err(KipError::reference(format!("Unbound variable: ?{var}")))
    }
}

pub fn project(
    ctx: &Ctx<'_, '_>,
    sols: &Solutions,
    items: &[FindItem],
    order_by: &[OrderItem],
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<Answer> {
    for item in items.iter().chain(order_by.iter().map(|o| &o.key)) {
        check_bound(sols, item_var(item))?;
    }
    let mut columns: Vec<Column> = Vec::new();
    for item in items {
        match item {
            FindItem::Path(p) => {
                let existing = columns
                    .iter_mut()
                    .find(|c| matches!(c, Column::Var { var, .. } if *var == p.var));
                match existing {
                    Some(Column::Var { fields, .. }) => fields.push(p.field.clone()),
                    _ => columns.push(Column::Var {
                        var: p.var.clone(),
                        fields: vec![p.field.clone()],
                    }),
                }
            }
            FindItem::Aggregate(a) => columns.push(Column::Aggregate(a.clone())),
        }
    }
    let plain: Vec<String> = columns
        .iter()
        .filter_map(|c| match c {
            Column::Var { var, .. } => Some(var.clone()),
            Column::Aggregate(_) => None,
        })
        .collect();
    let has_aggregates = columns.iter().any(|c| matches!(c, Column::Aggregate(_)));
    if has_aggregates {
        return aggregate(ctx, sols, &columns, &plain, order_by, limit, cursor);
    }

    let mut vars = plain.clone();
    for o in order_by {
        let v = item_var(&o.key).to_string();
        if !vars.contains(&v) {
            vars.push(v);
        }
    }
    let table = sols.table_for(&vars)?;
    let mut rows = table.rows;
    sort_rows(ctx, &table.vars, &mut rows, order_by, &HashMap::new())?;
    let (rows, next_cursor) = page(rows, limit, cursor)?;
    let mut out = Vec::new();
    for column in &columns {
        if let Column::Var { var, fields } = column {
            let c = table.vars.iter().position(|v| v == var).unwrap_or_default();
            let mut values = Vec::with_capacity(rows.len());
            for row in &rows {
                values.push(cell(ctx, &row[c], fields)?);
            }
            out.push(Value::Array(values));
        }
    }
    let result = unwrap_single(out);
    Ok(Answer {
        result,
        next_cursor,
    })
}

/// One column is unwrapped; several are the column-major array (spec §4).
fn unwrap_single(mut out: Vec<Value>) -> Value {
    if out.len() == 1 {
        out.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(out)
    }
}

fn cell(ctx: &Ctx<'_, '_>, binding: &Binding, fields: &[Field]) -> Result<Value> {
    if fields.len() == 1 {
        return value_of(ctx.store, binding, &fields[0]);
    }
    let mut tuple = Vec::with_capacity(fields.len());
    for f in fields {
        tuple.push(value_of(ctx.store, binding, f)?);
    }
    Ok(Value::Array(tuple))
}

/// Sorts rows by the ORDER BY keys (nulls last). Without ORDER BY the solution order
/// stays: patterns are matched in id order and UNION rows follow the main rows.
fn sort_rows(
    ctx: &Ctx<'_, '_>,
    vars: &[String],
    rows: &mut [Vec<Binding>],
    order_by: &[OrderItem],
    aggregates: &HashMap<usize, Vec<Value>>,
) -> Result<()> {
    if order_by.is_empty() {
        return Ok(());
    }
    let mut keyed: Vec<(Vec<Value>, usize)> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        ctx.tick()?;
        let mut keys = Vec::with_capacity(order_by.len());
        for (k, o) in order_by.iter().enumerate() {
            keys.push(match &o.key {
                FindItem::Path(p) => {
                    let c = vars.iter().position(|v| *v == p.var).unwrap_or_default();
                    value_of(ctx.store, &row[c], &p.field)?
                }
                FindItem::Aggregate(_) => aggregates
                    .get(&k)
                    .and_then(|v| v.get(i))
                    .cloned()
                    .unwrap_or(Value::Null),
            });
        }
        keyed.push((keys, i));
    }
    keyed.sort_by(|(a, ai), (b, bi)| {
        for (k, o) in order_by.iter().enumerate() {
            let ord = order(&a[k], &b[k], o.descending);
            if ord != Ordering::Equal {
                return ord;
            }
        }
        rows[*ai].cmp(&rows[*bi])
    });
    let sorted: Vec<Vec<Binding>> = keyed.into_iter().map(|(_, i)| rows[i].clone()).collect();
    rows.clone_from_slice(&sorted);
    Ok(())
}

fn aggregate_value(ctx: &Ctx<'_, '_>, a: &Aggregate, bindings: &[&Binding]) -> Result<Value> {
    let mut values = Vec::new();
    for b in bindings {
        let v = if a.path.field == Field::Whole {
            match b {
                Binding::Null | Binding::Row(_) => Value::Null,
                Binding::Node(r) => Value::String(format!("{r:?}")),
                Binding::Predicate(p) => Value::String(p.to_string()),
            }
        } else {
            value_of(ctx.store, b, &a.path.field)?
        };
        if !v.is_null() {
            values.push(v);
        }
    }
    if a.distinct {
        let mut unique: Vec<Value> = Vec::new();
        for v in values {
            if !unique.contains(&v) {
                unique.push(v);
            }
        }
        values = unique;
    }
    Ok(match a.func {
        AggFunc::Count => Value::from(values.len()),
        AggFunc::Sum => {
            let numbers: Vec<&Number> = values.iter().filter_map(|v| v.as_number()).collect();
            if numbers.iter().all(|n| n.as_i64().is_some()) {
                Value::from(
                    numbers
                        .iter()
                        .filter_map(|n| n.as_i64())
                        .fold(0i64, i64::saturating_add),
                )
            } else {
                float(numbers.iter().filter_map(|n| n.as_f64()).sum())
            }
        }
        AggFunc::Avg => {
            let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            if numbers.is_empty() {
                Value::Null
            } else {
                float(numbers.iter().sum::<f64>() / numbers.len() as f64)
            }
        }
        AggFunc::Min | AggFunc::Max => {
            let mut best: Option<Value> = None;
            for v in values {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let ord = compare(&v, &b).unwrap_or(Ordering::Equal);
                        let better = if a.func == AggFunc::Min {
                            ord.is_lt()
                        } else {
                            ord.is_gt()
                        };
                        if better {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Value::Null)
        }
    })
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Aggregation with implicit grouping by the plain FIND variables (spec §4). An aggregate
/// is computed per group when its variable is joined to the group variables by mandatory
/// patterns; otherwise (its own group variable, or bound only inside OPTIONAL) it is one
/// scalar over all solutions, as the reference engine answers.
fn aggregate(
    ctx: &Ctx<'_, '_>,
    sols: &Solutions,
    columns: &[Column],
    plain: &[String],
    order_by: &[OrderItem],
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<Answer> {
    let group_part: Vec<usize> = plain.iter().filter_map(|v| sols.part_of(v)).collect();
    let grouped = |a: &Aggregate| {
        !plain.is_empty()
            && !plain.contains(&a.path.var)
            && !ctx.optional_vars.borrow().contains(&a.path.var)
            && sols
                .part_of(&a.path.var)
                .is_some_and(|p| group_part.contains(&p))
    };
    let global = |a: &Aggregate| -> Result<Value> {
        let mut vars = plain.to_vec();
        vars.push(a.path.var.clone());
        vars.dedup();
        let table = sols.table_for(&vars)?;
        let c = table.col(&a.path.var).unwrap_or_default();
        let bindings: Vec<&Binding> = table.rows.iter().map(|r| &r[c]).collect();
        aggregate_value(ctx, a, &bindings)
    };
    if plain.is_empty() {
        let mut out = Vec::new();
        for column in columns {
            if let Column::Aggregate(a) = column {
                out.push(global(a)?);
            }
        }
        return Ok(Answer {
            result: unwrap_single(out),
            next_cursor: None,
        });
    }

    let mut vars: Vec<String> = plain.to_vec();
    for column in columns {
        if let Column::Aggregate(a) = column {
            if grouped(a) && !vars.contains(&a.path.var) {
                vars.push(a.path.var.clone());
            }
        }
    }
    for o in order_by {
        if let FindItem::Aggregate(a) = &o.key {
            if grouped(a) && !vars.contains(&a.path.var) {
                vars.push(a.path.var.clone());
            }
        }
    }
    let table: Table = sols.table_for(&vars)?;
    let key_len = plain.len();
    let mut groups: Vec<(Vec<Binding>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Vec<Binding>, usize> = HashMap::new();
    for (i, row) in table.rows.iter().enumerate() {
        let key = row[..key_len].to_vec();
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    let per_group = |a: &Aggregate| -> Result<Vec<Value>> {
        let c = table.col(&a.path.var).unwrap_or_default();
        let mut values = Vec::with_capacity(groups.len());
        for (_, members) in &groups {
            let bindings: Vec<&Binding> = members.iter().map(|i| &table.rows[*i][c]).collect();
            values.push(aggregate_value(ctx, a, &bindings)?);
        }
        Ok(values)
    };
    let mut order_values: HashMap<usize, Vec<Value>> = HashMap::new();
    for (k, o) in order_by.iter().enumerate() {
        if let FindItem::Aggregate(a) = &o.key {
            let values = if grouped(a) {
                per_group(a)?
            } else {
                vec![global(a)?; groups.len()]
            };
            order_values.insert(k, values);
        }
    }
    // Sort group indexes; the keys are the group-variable bindings.
    let mut keys: Vec<Vec<Binding>> = groups
        .iter()
        .enumerate()
        .map(|(i, (k, _))| {
            let mut k = k.clone();
            k.push(Binding::Row(i));
            k
        })
        .collect();
    let mut key_vars = plain.to_vec();
    key_vars.push("#group".into());
    sort_rows(ctx, &key_vars, &mut keys, order_by, &order_values)?;
    let order: Vec<usize> = keys
        .iter()
        .map(|k| match k.last() {
            Some(Binding::Row(i)) => *i,
            _ => 0,
        })
        .collect();
    let (order, next_cursor) = page(order, limit, cursor)?;
    let mut out = Vec::new();
    for column in columns {
        match column {
            Column::Var { var, fields } => {
                let c = plain.iter().position(|v| v == var).unwrap_or_default();
                let mut values = Vec::new();
                for g in &order {
                    values.push(cell(ctx, &groups[*g].0[c], fields)?);
                }
                out.push(Value::Array(values));
            }
            Column::Aggregate(a) if grouped(a) => {
                let all = per_group(a)?;
                out.push(Value::Array(
                    order.iter().map(|g| all[*g].clone()).collect(),
                ));
            }
            Column::Aggregate(a) => out.push(global(a)?),
        }
    }
    let result = unwrap_single(out);
    Ok(Answer {
        result,
        next_cursor,
    })
}
