//! Values of paths on bindings, FILTER comparisons and the ORDER BY order.

use std::cmp::Ordering;
use std::rc::Rc;

use serde_json::{json, Map, Value};

use crate::ast::Field;
use crate::error::Result;
use crate::store::{concept_id, link_id, GraphStore, Ref};

/// What a variable is bound to in one solution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binding {
    Null,
    Node(Ref),
    /// A predicate variable binds the predicate's name.
    Predicate(Rc<str>),
    /// The hidden row number OPTIONAL and NOT use to join their block back.
    Row(usize),
}

pub fn ref_id(store: &dyn GraphStore, node: Ref) -> Result<Value> {
    Ok(match node {
        Ref::Concept(id) => Value::String(concept_id(id)),
        Ref::Link(id) => match store.link(id)? {
            Some(link) => Value::String(link_id(id, &link.predicate)),
            None => Value::Null,
        },
    })
}

fn non_empty(map: &Map<String, Value>) -> Option<Value> {
    (!map.is_empty()).then(|| Value::Object(map.clone()))
}

/// The whole-node projection: `{_type, id, …}` with empty maps left out (spec §4).
pub fn node_json(store: &dyn GraphStore, node: Ref) -> Result<Value> {
    Ok(match node {
        Ref::Concept(id) => match store.concept(id)? {
            Some(c) => {
                let mut out = json!({"_type": "ConceptNode", "id": concept_id(id), "type": c.ty, "name": c.name});
                if let Some(a) = non_empty(&c.attributes) {
                    out["attributes"] = a;
                }
                if let Some(m) = non_empty(&c.metadata) {
                    out["metadata"] = m;
                }
                out
            }
            None => Value::Null,
        },
        Ref::Link(id) => match store.link(id)? {
            Some(l) => {
                let mut out = json!({
                    "_type": "PropositionLink",
                    "id": link_id(id, &l.predicate),
                    "subject": ref_id(store, l.subject)?,
                    "predicate": l.predicate,
                    "object": ref_id(store, l.object)?,
                });
                if let Some(a) = non_empty(&l.attributes) {
                    out["attributes"] = a;
                }
                if let Some(m) = non_empty(&l.metadata) {
                    out["metadata"] = m;
                }
                out
            }
            None => Value::Null,
        },
    })
}

/// `{id, type, name, attributes}`: how DESCRIBE shows definition and domain nodes.
pub fn concept_summary(store: &dyn GraphStore, id: i64) -> Result<Value> {
    Ok(match store.concept(id)? {
        Some(c) => {
            json!({"id": concept_id(id), "type": c.ty, "name": c.name, "attributes": c.attributes})
        }
        None => Value::Null,
    })
}

/// The value of `binding.field`; anything missing is null.
pub fn value_of(store: &dyn GraphStore, binding: &Binding, field: &Field) -> Result<Value> {
    match binding {
        Binding::Null | Binding::Row(_) => Ok(Value::Null),
        Binding::Predicate(p) => Ok(match field {
            Field::Whole | Field::Name | Field::Predicate => Value::String(p.to_string()),
            _ => Value::Null,
        }),
        Binding::Node(node @ Ref::Concept(id)) => {
            if *field == Field::Whole {
                return node_json(store, *node);
            }
            let Some(c) = store.concept(*id)? else {
                return Ok(Value::Null);
            };
            Ok(match field {
                Field::Id => Value::String(concept_id(*id)),
                Field::Type => Value::String(c.ty.clone()),
                Field::Name => Value::String(c.name.clone()),
                Field::Attributes => Value::Object(c.attributes.clone()),
                Field::Metadata => Value::Object(c.metadata.clone()),
                Field::Attribute(k) => c.attributes.get(k).cloned().unwrap_or(Value::Null),
                Field::Meta(k) => c.metadata.get(k).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
        Binding::Node(node @ Ref::Link(id)) => {
            if *field == Field::Whole {
                return node_json(store, *node);
            }
            let Some(l) = store.link(*id)? else {
                return Ok(Value::Null);
            };
            Ok(match field {
                Field::Id => Value::String(link_id(*id, &l.predicate)),
                Field::Subject => ref_id(store, l.subject)?,
                Field::Predicate => Value::String(l.predicate.clone()),
                Field::Object => ref_id(store, l.object)?,
                Field::Attributes => Value::Object(l.attributes.clone()),
                Field::Metadata => Value::Object(l.metadata.clone()),
                Field::Attribute(k) => l.attributes.get(k).cloned().unwrap_or(Value::Null),
                Field::Meta(k) => l.metadata.get(k).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
    }
}

/// FILTER comparison: numbers numerically (3 == 3.0), strings and booleans among their
/// own kind, arrays and objects only for equality. Anything involving null, or two
/// different kinds, does not compare.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            (a == b).then_some(Ordering::Equal)
        }
        _ => None,
    }
}

pub fn loosely_equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(Ordering::Equal)
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// ORDER BY: a total order with nulls last in both directions (spec §4).
pub fn order(a: &Value, b: &Value, descending: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let ordering = compare(a, b).unwrap_or_else(|| {
        kind_rank(a)
            .cmp(&kind_rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}
