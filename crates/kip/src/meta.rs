//! META commands (spec §6): DESCRIBE, SEARCH over the FTS5 index, EXPORT as a capsule.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::ast::*;
use crate::error::{KipError, Result};
use crate::query::{page, Answer};
use crate::solve::{eval_clauses, Ctx, Solutions};
use crate::store::{GraphStore, Ref, SearchIn};
use crate::text;
use crate::value::{concept_summary, node_json, Binding};
use crate::{CONCEPT_TYPE, PROPOSITION_TYPE};

const MAX_DOMAINS: usize = 256;
const SEARCH_LIMIT: u64 = 100;

fn answer(result: Value) -> Answer {
    Answer {
        result,
        next_cursor: None,
    }
}

pub fn describe(ctx: &Ctx<'_, '_>, describe: &Describe) -> Result<Answer> {
    let store = ctx.store;
    match describe {
        Describe::Primer => {
            let me = store
                .concept_by_key("Person", "$self")?
                .ok_or_else(|| KipError::not_found("the $self concept does not exist"))?;
            let domains = store.concepts_of_type("Domain")?;
            let mut map = Vec::new();
            for d in domains.iter().take(MAX_DOMAINS) {
                let mut concept_types = Vec::new();
                let mut proposition_types = Vec::new();
                for link in store.links_to(Ref::Concept(d.id), Some("belongs_to_domain"))? {
                    if let Ref::Concept(id) = link.subject {
                        if let Some(member) = store.concept(id)? {
                            if member.ty == CONCEPT_TYPE {
                                concept_types.push(member.name.clone());
                            } else if member.ty == PROPOSITION_TYPE {
                                proposition_types.push(member.name.clone());
                            }
                        }
                    }
                }
                concept_types.sort();
                proposition_types.sort();
                map.push(json!({
                    "name": d.name,
                    "description": d.attributes.get("description").cloned().unwrap_or(Value::Null),
                    "key_concept_types": concept_types,
                    "key_proposition_types": proposition_types,
                }));
            }
            Ok(answer(json!({
                "identity": concept_summary(store, me.id)?,
                "domain_map": map,
                "total_domains": domains.len(),
            })))
        }
        Describe::Domains => {
            let mut out = Vec::new();
            for d in store.concepts_of_type("Domain")? {
                out.push(concept_summary(store, d.id)?);
            }
            Ok(answer(Value::Array(out)))
        }
        Describe::Types {
            kind,
            limit,
            cursor,
        } => {
            let mut names: Vec<String> = store
                .concepts_of_type(kind.meta_type())?
                .iter()
                .map(|c| c.name.clone())
                .collect();
            names.sort();
            if let Some(after) = cursor {
                names.retain(|n| n > after);
            }
            let mut next_cursor = None;
            if let Some(limit) = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)) {
                if names.len() > limit {
                    names.truncate(limit);
                    next_cursor = names.last().cloned();
                }
            }
            Ok(Answer {
                result: json!(names),
                next_cursor,
            })
        }
        Describe::Type { kind, name } => {
            let node = store
                .concept_by_key(kind.meta_type(), name)?
                .ok_or_else(|| {
                    KipError::not_found(format!(
                        "{} type {name:?} is not defined (names are case-sensitive)",
                        kind.keyword().to_lowercase()
                    ))
                })?;
            Ok(answer(concept_summary(store, node.id)?))
        }
    }
}

/// Keyword search over the FTS5 index. Scores are absolute, so `THRESHOLD` means the same
/// on every query: 1 for a perfect match (the search text is, word for word, the concept's
/// name or one of its `aliases`, or the proposition's predicate), and otherwise
/// `s / (s + 2)` of the BM25 strength `s`, always below 1. (Scores relative to the best
/// hit made the best of any weak result score 1.) Semantic and hybrid modes fall back to
/// keyword: this engine keeps no vectors.
pub fn search(ctx: &Ctx<'_, '_>, search: &Search) -> Result<Answer> {
    let store = ctx.store;
    let wanted = text::tokens(&search.term);
    if wanted.is_empty() {
        return Ok(answer(json!([])));
    }
    let limit = search.limit.unwrap_or(SEARCH_LIMIT).min(SEARCH_LIMIT);
    let index = match search.kind {
        Kind::Concept => SearchIn::Concepts,
        Kind::Proposition => SearchIn::Propositions,
    };
    let hits = store.search(index, &wanted, search.with_type.as_deref(), limit as usize)?;
    let mut scored = Vec::new();
    for (id, raw) in hits {
        let node = match search.kind {
            Kind::Concept => Ref::Concept(id),
            Kind::Proposition => Ref::Link(id),
        };
        let json = node_json(store, node)?;
        let score = if perfect_match(&json, &wanted) {
            1.0
        } else {
            // FTS5's bm25() is negative, stronger the lower.
            let strength = (-raw).max(0.0);
            (strength / (strength + 2.0)).min(0.999_999)
        };
        if search.threshold.is_some_and(|t| score < t) {
            continue;
        }
        scored.push((score, json));
    }
    // Perfect matches first; the rest keep BM25's order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let out = scored
        .into_iter()
        .map(|(score, mut json)| {
            if let Some(obj) = json.as_object_mut() {
                let metadata = obj.entry("metadata").or_insert_with(|| json!({}));
                metadata["_score"] = json!((score * 1e6).round() / 1e6);
            }
            json
        })
        .collect();
    Ok(answer(Value::Array(out)))
}

/// Whether the search words are, in order, the words of the node's name, of one of its
/// `aliases`, or of a proposition's predicate.
fn perfect_match(node: &Value, wanted: &[String]) -> bool {
    let same = |text: &str| text::tokens(text) == wanted;
    let name = node["name"].as_str().or(node["predicate"].as_str());
    name.is_some_and(same)
        || node["attributes"]["aliases"]
            .as_array()
            .is_some_and(|a| a.iter().filter_map(Value::as_str).any(same))
}

/// EXPORT: the matched nodes as an UPSERT capsule that recreates them elsewhere. Nodes in
/// the set become local handles; endpoints outside it are named by `{type, name}` or by
/// their triple. Engine metadata (`_…`) is never exported.
pub fn export(ctx: &Ctx<'_, '_>, export: &Export) -> Result<Answer> {
    let store = ctx.store;
    let mut sols = Solutions::default();
    eval_clauses(ctx, &mut sols, &export.clauses, true)?;
    crate::query::check_bound(&sols, &export.var)?;
    let table = sols.table_for(std::slice::from_ref(&export.var))?;
    let mut nodes: Vec<Ref> = table
        .rows
        .iter()
        .filter_map(|r| match r[0] {
            Binding::Node(n) => Some(n),
            _ => None,
        })
        .collect();
    nodes.sort();
    let (nodes, next_cursor) = page(nodes, export.limit, export.cursor.as_deref())?;
    let mut handles: HashMap<Ref, String> = HashMap::new();
    let mut concepts = 0;
    let mut propositions = 0;
    let mut body = String::new();
    let clean = |m: &JsonMap| -> JsonMap {
        m.iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let with_md = |m: &JsonMap| {
        if m.is_empty() {
            String::new()
        } else {
            format!(" WITH METADATA {}", Value::Object(m.clone()))
        }
    };
    // Concepts first so links can refer to their handles.
    for node in nodes.iter().filter(|n| matches!(n, Ref::Concept(_))) {
        let Ref::Concept(id) = node else { continue };
        let Some(c) = store.concept(*id)? else {
            continue;
        };
        let handle = format!("c{}", concepts + 1);
        concepts += 1;
        let matcher = ConceptMatch {
            id: None,
            ty: Some(c.ty.clone()),
            name: Some(c.name.clone()),
        };
        let attributes = if c.attributes.is_empty() {
            String::new()
        } else {
            format!(" SET ATTRIBUTES {}", Value::Object(c.attributes.clone()))
        };
        body.push_str(&format!(
            "  CONCEPT ?{handle} {{ {matcher}{attributes} }}{}\n",
            with_md(&clean(&c.metadata))
        ));
        handles.insert(*node, handle);
    }
    for node in nodes.iter().filter(|n| matches!(n, Ref::Link(_))) {
        let Ref::Link(id) = node else { continue };
        let Some(l) = store.link(*id)? else { continue };
        let handle = format!("p{}", propositions + 1);
        propositions += 1;
        let subject = endpoint_text(store, l.subject, &handles, 0)?;
        let object = endpoint_text(store, l.object, &handles, 0)?;
        let attributes = if l.attributes.is_empty() {
            String::new()
        } else {
            format!(" SET ATTRIBUTES {}", Value::Object(l.attributes.clone()))
        };
        body.push_str(&format!(
            "  PROPOSITION ?{handle} {{ ({subject}, {}, {object}){attributes} }}{}\n",
            serde_json::to_string(&l.predicate).unwrap_or_default(),
            with_md(&clean(&l.metadata))
        ));
        handles.insert(*node, handle);
    }
    let capsule = if body.is_empty() {
        String::new()
    } else {
        format!("UPSERT {{\n{body}}}")
    };
    Ok(Answer {
        result: json!({"capsule": capsule, "concepts": concepts, "propositions": propositions}),
        next_cursor,
    })
}

fn endpoint_text(
    store: &dyn GraphStore,
    node: Ref,
    handles: &HashMap<Ref, String>,
    depth: usize,
) -> Result<String> {
    if let Some(h) = handles.get(&node) {
        return Ok(format!("?{h}"));
    }
    if depth > 32 {
        return Err(KipError::exhausted(
            "higher-order links nest too deeply to export",
        ));
    }
    Ok(match node {
        Ref::Concept(id) => match store.concept(id)? {
            Some(c) => ConceptMatch {
                id: None,
                ty: Some(c.ty.clone()),
                name: Some(c.name.clone()),
            }
            .to_string(),
            None => return Err(KipError::internal("a link points at a missing concept")),
        },
        Ref::Link(id) => match store.link(id)? {
            Some(l) => format!(
                "({}, {}, {})",
                endpoint_text(store, l.subject, handles, depth + 1)?,
                serde_json::to_string(&l.predicate).unwrap_or_default(),
                endpoint_text(store, l.object, handles, depth + 1)?
            ),
            None => return Err(KipError::internal("a link points at a missing link")),
        },
    })
}
