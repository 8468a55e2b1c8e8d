//! KML (spec §5): UPSERT capsules, UPDATE, MERGE and the DELETE forms. The engine runs
//! each command in one transaction, so any error here leaves the graph unchanged.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{json, Map, Number, Value};

use crate::ast::*;
use crate::error::{ErrorCode, KipError, Result};
use crate::query::check_bound;
use crate::solve::{eval_clauses, Ctx, Solutions};
use crate::store::{concept_id, link_id, parse_concept_id, parse_link_id, Concept, Link, Ref};
use crate::value::{value_of, Binding};
use crate::{CONCEPT_TYPE, PROPOSITION_TYPE};

pub struct Writer<'a, 's, 'c> {
    pub ctx: &'a Ctx<'s, 'c>,
    /// The timestamp written to `_updated_at`.
    pub now: String,
    /// Bootstrap capsules may write the protected scope.
    pub system: bool,
    pub dry_run: bool,
}

fn check_reserved(map: Option<&JsonMap>) -> Result<()> {
    if let Some(key) = map.and_then(|m| m.keys().find(|k| k.starts_with('_'))) {
        return Err(KipError::constraint(format!(
            "metadata key `{key}` is reserved for the engine"
        )));
    }
    Ok(())
}

fn overlay(base: &mut JsonMap, top: Option<&JsonMap>) {
    if let Some(top) = top {
        for (k, v) in top {
            base.insert(k.clone(), v.clone());
        }
    }
}

pub fn version(metadata: &JsonMap) -> u64 {
    metadata
        .get("_version")
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// The meta-type nodes, `Domain`, `belongs_to_domain` and `CoreSchema` (spec §1).
pub fn is_protected(c: &Concept) -> bool {
    (c.ty == CONCEPT_TYPE && [CONCEPT_TYPE, PROPOSITION_TYPE, "Domain"].contains(&c.name.as_str()))
        || (c.ty == PROPOSITION_TYPE && c.name == "belongs_to_domain")
        || (c.ty == "Domain" && c.name == "CoreSchema")
}

/// `$self` and `$system`: their identity and `core_directives` are immutable.
pub fn is_actor(c: &Concept) -> bool {
    c.ty == "Person" && (c.name == "$self" || c.name == "$system")
}

fn without_engine_keys(m: &JsonMap) -> JsonMap {
    m.iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl<'a, 's, 'c> Writer<'a, 's, 'c> {
    fn store(&self) -> &'s (dyn crate::store::GraphStore + 'c) {
        self.ctx.store
    }

    fn stamp(&self, metadata: &mut JsonMap, next_version: u64) {
        metadata.insert("_version".into(), Value::from(next_version));
        metadata.insert("_updated_at".into(), Value::String(self.now.clone()));
    }

    /// Refuses a change to a protected concept; `Ok(false)` means "nothing changes".
    fn guard_concept(&self, before: &Concept, after: &Concept) -> Result<bool> {
        let changed = before.attributes != after.attributes
            || without_engine_keys(&before.metadata) != without_engine_keys(&after.metadata);
        if self.system || !changed {
            return Ok(changed || !is_protected(before));
        }
        if is_protected(before) {
            return Err(KipError::immutable(format!(
                "{}:{} is in the protected core schema",
                before.ty, before.name
            )));
        }
        if is_actor(before)
            && before.attributes.get("core_directives") != after.attributes.get("core_directives")
        {
            return Err(KipError::immutable(format!(
                "the core_directives of {} are immutable",
                before.name
            )));
        }
        Ok(true)
    }

    fn guard_link(&self, link: &Link) -> Result<()> {
        if self.system {
            return Ok(());
        }
        if let Ref::Concept(id) = link.subject {
            if let Some(c) = self.store().concept(id)? {
                if is_protected(&c) {
                    return Err(KipError::immutable(format!(
                        "the link {} anchors the protected node {}:{}",
                        link_id(link.id, &link.predicate),
                        c.ty,
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_expect(expect: Option<u64>, current: Option<u64>, what: &str) -> Result<()> {
        match (expect, current) {
            (None, _) | (Some(0), None) => Ok(()),
            (Some(0), Some(v)) => Err(KipError::new(
                ErrorCode::VersionConflict,
                format!(
                    "EXPECT VERSION 0 requires that {what} does not exist; it is at version {v}"
                ),
            )),
            (Some(e), None) => Err(KipError::new(
                ErrorCode::VersionConflict,
                format!("EXPECT VERSION {e}: {what} does not exist"),
            )),
            (Some(e), Some(v)) if e != v => Err(KipError::new(
                ErrorCode::VersionConflict,
                format!("EXPECT VERSION {e}: {what} is at version {v}"),
            )),
            _ => Ok(()),
        }
    }

    // ---------- UPSERT ----------

    pub fn upsert(&self, statements: &[Upsert]) -> Result<Value> {
        let mut blocks = 0;
        let mut concepts = Vec::new();
        let mut links = Vec::new();
        for statement in statements {
            // `blocks` counts UPSERT statements, as the reference engine reports.
            blocks += 1;
            check_reserved(statement.metadata.as_ref())?;
            let mut handles: HashMap<String, Ref> = HashMap::new();
            for item in &statement.items {
                match item {
                    UpsertItem::Concept(block) => {
                        let id =
                            self.concept_block(block, statement.metadata.as_ref(), &mut handles)?;
                        concepts.push(concept_id(id));
                    }
                    UpsertItem::Proposition(block) => {
                        let link = self.proposition_block(
                            block,
                            statement.metadata.as_ref(),
                            &mut handles,
                        )?;
                        links.push(link_id(link.id, &link.predicate));
                    }
                }
            }
        }
        if self.dry_run {
            concepts.clear();
            links.clear();
        }
        Ok(
            json!({"blocks": blocks, "upsert_concept_nodes": concepts, "upsert_proposition_links": links}),
        )
    }

    fn concept_block(
        &self,
        block: &ConceptBlock,
        statement_md: Option<&JsonMap>,
        handles: &mut HashMap<String, Ref>,
    ) -> Result<i64> {
        check_reserved(block.metadata.as_ref())?;
        let existing = match &block.matcher.id {
            Some(id) => Some(
                parse_concept_id(id)
                    .map(|n| self.store().concept(n))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| KipError::not_found(format!("concept {id} not found")))?,
            ),
            None => {
                let ty = block.matcher.ty.as_deref().unwrap_or_default();
                let name = block.matcher.name.as_deref().unwrap_or_default();
                let self_defining = ty == CONCEPT_TYPE && name == CONCEPT_TYPE;
                if !self_defining && !self.store().is_registered(CONCEPT_TYPE, ty)? {
                    return Err(KipError::new(
                        ErrorCode::TypeMismatch,
                        format!("concept type `{ty}` is not registered"),
                    ));
                }
                self.store().concept_by_key(ty, name)?
            }
        };
        let ty = existing
            .as_ref()
            .map_or(block.matcher.ty.clone().unwrap_or_default(), |c| {
                c.ty.clone()
            });
        if existing.is_none() && (ty == CONCEPT_TYPE || ty == PROPOSITION_TYPE) {
            check_type_name(block.matcher.name.as_deref().unwrap_or_default())?;
        }
        if let Some(attributes) = &block.attributes {
            self.check_schema(&ty, attributes)?;
        }
        let mut metadata = Map::new();
        overlay(&mut metadata, statement_md);
        overlay(&mut metadata, block.metadata.as_ref());
        let what = format!("concept {}", block.matcher);
        let id = match existing {
            Some(current) => {
                Self::check_expect(
                    block.expect_version,
                    Some(version(&current.metadata)),
                    &what,
                )?;
                let sets = block.attributes.as_ref().is_some_and(|a| !a.is_empty())
                    || !metadata.is_empty();
                if sets {
                    let mut next = (*current).clone();
                    overlay(&mut next.attributes, block.attributes.as_ref());
                    overlay(&mut next.metadata, Some(&metadata));
                    if self.guard_concept(&current, &next)? {
                        self.stamp(&mut next.metadata, version(&current.metadata) + 1);
                        self.store().update_concept(&next)?;
                    }
                }
                current.id
            }
            None => {
                Self::check_expect(block.expect_version, None, &what)?;
                let attributes = block.attributes.clone().unwrap_or_default();
                self.stamp(&mut metadata, 1);
                self.store().insert_concept(
                    block.matcher.ty.as_deref().unwrap_or_default(),
                    block.matcher.name.as_deref().unwrap_or_default(),
                    &attributes,
                    &metadata,
                )?
            }
        };
        if let Some(h) = &block.handle {
            handles.insert(h.clone(), Ref::Concept(id));
        }
        for sp in &block.propositions {
            check_reserved(sp.metadata.as_ref())?;
            self.require_predicate(&sp.predicate)?;
            let target = self.resolve_target(&sp.target, handles)?;
            if target == Ref::Concept(id) {
                return Err(KipError::syntax(format!(
                    "self-loop: {} cannot be linked to itself with {:?}",
                    block.matcher, sp.predicate
                )));
            }
            let mut md = Map::new();
            overlay(&mut md, statement_md);
            overlay(&mut md, sp.metadata.as_ref());
            self.put_link(Ref::Concept(id), &sp.predicate, target, None, &md, None)?;
        }
        Ok(id)
    }

    /// `instance_schema` types are enforced for the keys a write sets (KIP_2003); required
    /// keys are not, since memories are filled in over time.
    fn check_schema(&self, ty: &str, attributes: &JsonMap) -> Result<()> {
        let Some(definition) = self.store().concept_by_key(CONCEPT_TYPE, ty)? else {
            return Ok(());
        };
        let Some(schema) = definition
            .attributes
            .get("instance_schema")
            .and_then(Value::as_object)
        else {
            return Ok(());
        };
        for (key, value) in attributes {
            let Some(expected) = schema
                .get(key)
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let fits = match expected {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "integer" => value.is_i64() || value.is_u64(),
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !fits && !value.is_null() {
                return Err(KipError::new(
                    ErrorCode::InvalidValueType,
                    format!("attribute `{key}` of a {ty} must be {expected}, got {value}"),
                ));
            }
        }
        Ok(())
    }

    fn require_predicate(&self, predicate: &str) -> Result<()> {
        if self.store().is_registered(PROPOSITION_TYPE, predicate)? {
            Ok(())
        } else {
            Err(KipError::new(
                ErrorCode::TypeMismatch,
                format!("predicate `{predicate}` is not registered"),
            ))
        }
    }

    /// A KML target must already exist: a handle, `{type,name}`, `{id}` or a link.
    fn resolve_target(&self, term: &Term, handles: &HashMap<String, Ref>) -> Result<Ref> {
        match term {
            Term::Var(h) => handles.get(h).copied().ok_or_else(|| {
                KipError::reference(format!("handle ?{h} is used before it is defined"))
            }),
            Term::Concept(m) => {
                if !m.is_unique() {
                    return Err(KipError::syntax(format!(
                        "a target names one concept with {{type, name}} or {{id}}, not {m}"
                    )));
                }
                let found = crate::solve::concepts_matching(self.store(), m)?;
                found
                    .first()
                    .map(|c| Ref::Concept(c.id))
                    .ok_or_else(|| KipError::not_found(format!("concept {m} not found")))
            }
            Term::Proposition(p) => Ok(Ref::Link(self.resolve_link(p, handles)?.id)),
        }
    }

    /// The existing endpoints and the predicate name of a `(s, "p", o)` pattern; with
    /// `registered`, the predicate must be registered first (KIP_2001 before KIP_3002).
    fn triple<'p>(
        &self,
        subject: &Term,
        predicate: &'p Pred,
        object: &Term,
        handles: &HashMap<String, Ref>,
        registered: bool,
    ) -> Result<(Ref, &'p str, Ref)> {
        let Pred::Name(p) = predicate else {
            return Err(KipError::syntax(
                "a proposition in KML names one predicate as a string",
            ));
        };
        if registered {
            self.require_predicate(p)?;
        }
        let s = self.resolve_target(subject, handles)?;
        let o = self.resolve_target(object, handles)?;
        Ok((s, p.as_str(), o))
    }

    fn resolve_link(
        &self,
        pattern: &PropPattern,
        handles: &HashMap<String, Ref>,
    ) -> Result<Rc<Link>> {
        match pattern {
            PropPattern::Id(id) => parse_link_id(id)
                .map(|(n, _)| self.store().link(n))
                .transpose()?
                .flatten()
                .ok_or_else(|| KipError::not_found(format!("proposition {id} not found"))),
            PropPattern::Triple {
                subject,
                predicate,
                object,
            } => {
                let (s, p, o) = self.triple(subject, predicate, object, handles, false)?;
                self.store()
                    .link_by_triple(s, p, o)?
                    .ok_or_else(|| KipError::not_found(format!("proposition {pattern} not found")))
            }
        }
    }

    /// Creates the link or merges into the existing one; returns it.
    fn put_link(
        &self,
        subject: Ref,
        predicate: &str,
        object: Ref,
        attributes: Option<&JsonMap>,
        metadata: &JsonMap,
        expect: Option<u64>,
    ) -> Result<Rc<Link>> {
        match self.store().link_by_triple(subject, predicate, object)? {
            Some(current) => self.update_existing_link(&current, attributes, metadata, expect),
            None => {
                Self::check_expect(expect, None, &format!("proposition ({predicate})"))?;
                let mut md = metadata.clone();
                self.stamp(&mut md, 1);
                let attributes = attributes.cloned().unwrap_or_default();
                let id = self
                    .store()
                    .insert_link(subject, predicate, object, &attributes, &md)?;
                self.store()
                    .link(id)?
                    .ok_or_else(|| KipError::internal("a link vanished after insert"))
            }
        }
    }

    fn update_existing_link(
        &self,
        current: &Rc<Link>,
        attributes: Option<&JsonMap>,
        metadata: &JsonMap,
        expect: Option<u64>,
    ) -> Result<Rc<Link>> {
        Self::check_expect(
            expect,
            Some(version(&current.metadata)),
            &link_id(current.id, &current.predicate),
        )?;
        let sets = attributes.is_some_and(|a| !a.is_empty()) || !metadata.is_empty();
        if !sets {
            return Ok(current.clone());
        }
        let mut next = (**current).clone();
        overlay(&mut next.attributes, attributes);
        overlay(&mut next.metadata, Some(metadata));
        let changed = next.attributes != current.attributes || next.metadata != current.metadata;
        if changed {
            self.guard_link(current)?;
        }
        self.stamp(&mut next.metadata, version(&current.metadata) + 1);
        self.store().update_link(&next)?;
        Ok(Rc::new(next))
    }

    fn proposition_block(
        &self,
        block: &PropositionBlock,
        statement_md: Option<&JsonMap>,
        handles: &mut HashMap<String, Ref>,
    ) -> Result<Rc<Link>> {
        check_reserved(block.metadata.as_ref())?;
        let mut metadata = Map::new();
        overlay(&mut metadata, statement_md);
        overlay(&mut metadata, block.metadata.as_ref());
        let link = match &block.pattern {
            PropPattern::Id(_) => {
                let current = self.resolve_link(&block.pattern, handles)?;
                self.update_existing_link(
                    &current,
                    block.attributes.as_ref(),
                    &metadata,
                    block.expect_version,
                )?
            }
            PropPattern::Triple {
                subject,
                predicate,
                object,
            } => {
                let (s, p, o) = self.triple(subject, predicate, object, handles, true)?;
                if s == o {
                    return Err(KipError::syntax(
                        "Subject and object cannot be the same (a self-loop)",
                    ));
                }
                self.put_link(
                    s,
                    p,
                    o,
                    block.attributes.as_ref(),
                    &metadata,
                    block.expect_version,
                )?
            }
        };
        if let Some(h) = &block.handle {
            handles.insert(h.clone(), Ref::Link(link.id));
        }
        Ok(link)
    }

    // ---------- shared by UPDATE / MERGE / DELETE ----------

    fn solve(&self, clauses: &[Clause]) -> Result<Solutions> {
        let mut sols = Solutions::default();
        eval_clauses(self.ctx, &mut sols, clauses, true)?;
        Ok(sols)
    }

    /// The distinct nodes `var` is bound to, in first-seen order.
    fn targets(&self, sols: &Solutions, var: &str) -> Result<Vec<Ref>> {
        check_bound(sols, var)?;
        let table = sols.table_for(&[var.to_string()])?;
        Ok(table
            .rows
            .iter()
            .filter_map(|r| match r[0] {
                Binding::Node(n) => Some(n),
                _ => None,
            })
            .collect())
    }

    fn concept(&self, id: i64) -> Result<Rc<Concept>> {
        self.store()
            .concept(id)?
            .ok_or_else(|| KipError::internal(format!("concept C:{id} vanished")))
    }

    fn link(&self, id: i64) -> Result<Rc<Link>> {
        self.store()
            .link(id)?
            .ok_or_else(|| KipError::internal(format!("link P:{id} vanished")))
    }

    /// Applies `change` to a node's attributes and metadata; when it reports a change, the
    /// protection guard runs and the node is written with its version bumped.
    fn rewrite(
        &self,
        target: Ref,
        change: impl FnOnce(&mut JsonMap, &mut JsonMap) -> bool,
    ) -> Result<()> {
        match target {
            Ref::Concept(id) => {
                let current = self.concept(id)?;
                let mut next = (*current).clone();
                if change(&mut next.attributes, &mut next.metadata)
                    && self.guard_concept(&current, &next)?
                {
                    self.stamp(&mut next.metadata, version(&current.metadata) + 1);
                    self.store().update_concept(&next)?;
                }
            }
            Ref::Link(id) => {
                let current = self.link(id)?;
                let mut next = (*current).clone();
                if change(&mut next.attributes, &mut next.metadata) {
                    self.guard_link(&current)?;
                    self.stamp(&mut next.metadata, version(&current.metadata) + 1);
                    self.store().update_link(&next)?;
                }
            }
        }
        Ok(())
    }

    // ---------- UPDATE ----------

    pub fn update(&self, update: &Update) -> Result<Value> {
        let pairs = || {
            update
                .attributes
                .iter()
                .flatten()
                .chain(update.metadata.iter().flatten())
        };
        if let Some((key, _)) = update
            .metadata
            .iter()
            .flatten()
            .find(|(k, _)| k.starts_with('_'))
        {
            return Err(KipError::constraint(format!(
                "metadata key `{key}` is reserved for the engine"
            )));
        }
        for (_, value) in pairs() {
            if let UpdateValue::Expr(e) = value {
                check_update_paths(e, &update.var)?;
            }
        }
        let sols = self.solve(&update.clauses)?;
        let targets = self.targets(&sols, &update.var)?;
        let limit = update
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        // `matched` counts the elements selected for the update, so LIMIT caps it too
        // (spec §14 case 24: dry_run + LIMIT 1 over two matches → matched 1).
        let matched = targets.len().min(limit);
        // The protection check covers every match before anything is written.
        for target in &targets {
            match target {
                Ref::Concept(id) => {
                    let c = self.concept(*id)?;
                    if !self.system && is_protected(&c) {
                        return Err(KipError::immutable(format!(
                            "{}:{} is in the protected core schema",
                            c.ty, c.name
                        )));
                    }
                    if !self.system
                        && is_actor(&c)
                        && update
                            .attributes
                            .iter()
                            .flatten()
                            .any(|(k, _)| k == "core_directives")
                    {
                        return Err(KipError::immutable(format!(
                            "the core_directives of {} are immutable",
                            c.name
                        )));
                    }
                }
                Ref::Link(id) => self.guard_link(&*self.link(*id)?)?,
            }
        }
        let mut updated = 0;
        for target in targets.iter().take(limit) {
            self.ctx.tick()?;
            let binding = Binding::Node(*target);
            let eval =
                |pairs: &Option<Vec<(String, UpdateValue)>>| -> Result<Vec<(String, Value)>> {
                    let mut out = Vec::new();
                    for (k, v) in pairs.iter().flatten() {
                        let value = match v {
                            UpdateValue::Json(j) => j.clone(),
                            UpdateValue::Expr(e) => eval_update(self.ctx, e, &binding)?,
                        };
                        // A null or non-number result skips that key (spec §5).
                        if matches!(v, UpdateValue::Expr(_)) && !value.is_number() {
                            continue;
                        }
                        out.push((k.clone(), value));
                    }
                    Ok(out)
                };
            let attributes = eval(&update.attributes)?;
            let metadata = eval(&update.metadata)?;
            if attributes.is_empty() && metadata.is_empty() {
                continue;
            }
            updated += 1;
            self.rewrite(*target, |attrs, meta| {
                attrs.extend(attributes);
                meta.extend(metadata);
                true
            })?;
        }
        if self.dry_run {
            updated = 0;
        }
        Ok(json!({"updated": updated, "matched": matched}))
    }

    // ---------- MERGE ----------

    pub fn merge(&self, merge: &Merge) -> Result<Value> {
        let sols = match self.solve(&merge.clauses) {
            Err(e) if e.code == ErrorCode::NotFound => return Err(self.merged_already(merge, e)),
            other => other?,
        };
        let one = |var: &str| -> Result<Rc<Concept>> {
            let targets = self.targets(&sols, var)?;
            match targets.as_slice() {
                [] => Err(KipError::not_found(format!("?{var} matches no concept"))),
                [Ref::Concept(id)] => self.concept(*id),
                [_] => Err(KipError::syntax(format!("?{var} must be a concept"))),
                _ => Err(KipError::new(
                    ErrorCode::DuplicateExists,
                    format!(
                        "?{var} matches {} nodes; MERGE needs exactly one",
                        targets.len()
                    ),
                )),
            }
        };
        let source = one(&merge.source)?;
        let target = one(&merge.target)?;
        let zero = json!({"merged": true, "links_repointed": 0, "links_deduplicated": 0, "attributes_filled": 0});
        if source.id == target.id {
            return Ok(zero);
        }
        if source.ty != target.ty {
            return Err(KipError::constraint(format!(
                "cannot merge a {} into a {}; both must have the same type",
                source.ty, target.ty
            )));
        }
        for c in [&source, &target] {
            if !self.system && (is_protected(c) || is_actor(c)) {
                return Err(KipError::immutable(format!(
                    "{}:{} is protected",
                    c.ty, c.name
                )));
            }
        }
        let (src, dst) = (Ref::Concept(source.id), Ref::Concept(target.id));
        let mut repointed = 0;
        let mut deduplicated = 0;
        let mut touching = self.store().links_from(src, None)?;
        touching.extend(self.store().links_to(src, None)?);
        touching.sort_by_key(|l| l.id);
        touching.dedup_by_key(|l| l.id);
        for link in touching {
            let link = self.link(link.id)?;
            let swap = |r: Ref| if r == src { dst } else { r };
            let (s, o) = (swap(link.subject), swap(link.object));
            let collision = self.store().link_by_triple(s, &link.predicate, o)?;
            if s == o || collision.is_some() {
                if let Some(survivor) = collision {
                    let mut next = (*survivor).clone();
                    for (k, v) in &link.attributes {
                        next.attributes
                            .entry(k.clone())
                            .or_insert_with(|| v.clone());
                    }
                    for (k, v) in without_engine_keys(&link.metadata) {
                        next.metadata.entry(k).or_insert(v);
                    }
                    let v = version(&next.metadata) + 1;
                    self.stamp(&mut next.metadata, v);
                    self.store().update_link(&next)?;
                    self.repoint_references(Ref::Link(link.id), Ref::Link(survivor.id))?;
                } else {
                    // A link between the two merged nodes would become a self-loop.
                    for id in self.store().cascade(&[Ref::Link(link.id)])? {
                        self.store().delete_link(id)?;
                    }
                }
                self.store().delete_link(link.id)?;
                deduplicated += 1;
            } else {
                let mut next = (*link).clone();
                next.subject = s;
                next.object = o;
                self.store().update_link(&next)?;
                repointed += 1;
            }
        }
        let mut next = (*target).clone();
        let mut filled = 0;
        for (k, v) in &source.attributes {
            if !next.attributes.contains_key(k) {
                next.attributes.insert(k.clone(), v.clone());
                filled += 1;
            }
        }
        let mut aliases: Vec<Value> = next
            .attributes
            .get("aliases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut add_alias = |v: &Value| {
            if !aliases.contains(v) {
                aliases.push(v.clone());
            }
        };
        source
            .attributes
            .get("aliases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .for_each(&mut add_alias);
        add_alias(&Value::String(source.name.clone()));
        next.attributes
            .insert("aliases".into(), Value::Array(aliases));
        let mut trail: Vec<Value> = next
            .metadata
            .get("_merged_from")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        trail.extend(
            source
                .metadata
                .get("_merged_from")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        trail.push(Value::String(format!("{}:{}", source.ty, source.name)));
        next.metadata
            .insert("_merged_from".into(), Value::Array(trail));
        let v = version(&next.metadata) + 1;
        self.stamp(&mut next.metadata, v);
        self.store().update_concept(&next)?;
        self.store().delete_concept(source.id)?;
        Ok(json!({
            "merged": true,
            "links_repointed": repointed,
            "links_deduplicated": deduplicated,
            "attributes_filled": filled,
        }))
    }

    /// Higher-order links that pointed at `from` now point at `to`.
    fn repoint_references(&self, from: Ref, to: Ref) -> Result<()> {
        let mut refs = self.store().links_from(from, None)?;
        refs.extend(self.store().links_to(from, None)?);
        for link in refs {
            let mut next = (*self.link(link.id)?).clone();
            if next.subject == from {
                next.subject = to;
            }
            if next.object == from {
                next.object = to;
            }
            if self
                .store()
                .link_by_triple(next.subject, &next.predicate, next.object)?
                .is_some()
                || next.subject == next.object
            {
                for id in self.store().cascade(&[Ref::Link(link.id)])? {
                    self.store().delete_link(id)?;
                }
                self.store().delete_link(link.id)?;
            } else {
                self.store().update_link(&next)?;
            }
        }
        Ok(())
    }

    // ---------- DELETE ----------

    pub fn delete(&self, delete: &Delete) -> Result<Value> {
        match delete {
            Delete::Attributes { keys, var, clauses } => {
                self.delete_keys(keys, var, clauses, false)
            }
            Delete::Metadata { keys, var, clauses } => {
                if let Some(key) = keys.iter().find(|k| k.starts_with('_')) {
                    return Err(KipError::constraint(format!(
                        "metadata key `{key}` is reserved for the engine"
                    )));
                }
                self.delete_keys(keys, var, clauses, true)
            }
            Delete::Propositions { var, clauses } => {
                let sols = self.solve(clauses)?;
                let mut links = Vec::new();
                for target in self.targets(&sols, var)? {
                    if let Ref::Link(id) = target {
                        self.guard_link(&*self.link(id)?)?;
                        links.push(Ref::Link(id));
                    }
                }
                let mut doomed: Vec<i64> = links
                    .iter()
                    .filter_map(|r| match r {
                        Ref::Link(id) => Some(*id),
                        Ref::Concept(_) => None,
                    })
                    .collect();
                doomed.extend(self.store().cascade(&links)?);
                doomed.sort_unstable();
                doomed.dedup();
                for id in &doomed {
                    self.store().delete_link(*id)?;
                }
                Ok(json!({"deleted_propositions": doomed.len()}))
            }
            Delete::Concept { var, clauses } => {
                let sols = self.solve(clauses)?;
                let mut concepts = Vec::new();
                for target in self.targets(&sols, var)? {
                    if let Ref::Concept(id) = target {
                        let c = self.concept(id)?;
                        if !self.system && (is_protected(&c) || is_actor(&c)) {
                            return Err(KipError::immutable(format!(
                                "{}:{} is protected",
                                c.ty, c.name
                            )));
                        }
                        concepts.push(target);
                    }
                }
                let links = self.store().cascade(&concepts)?;
                for id in &links {
                    self.store().delete_link(*id)?;
                }
                for c in &concepts {
                    if let Ref::Concept(id) = c {
                        self.store().delete_concept(*id)?;
                    }
                }
                Ok(json!({"deleted_concepts": concepts.len(), "deleted_propositions": links.len()}))
            }
        }
    }

    fn delete_keys(
        &self,
        keys: &[String],
        var: &str,
        clauses: &[Clause],
        metadata: bool,
    ) -> Result<Value> {
        let sols = self.solve(clauses)?;
        let (mut concepts, mut links) = (0, 0);
        for target in self.targets(&sols, var)? {
            match target {
                Ref::Concept(_) => concepts += 1,
                Ref::Link(_) => links += 1,
            }
            self.rewrite(target, |attrs, meta| {
                remove_keys(if metadata { meta } else { attrs }, keys)
            })?;
        }
        Ok(json!({"updated_concepts": concepts, "updated_propositions": links}))
    }
}

/// Type and predicate names are identifiers; the meta-types add a leading `$`.
fn check_type_name(name: &str) -> Result<()> {
    let bare = name.strip_prefix('$').unwrap_or(name).as_bytes();
    let valid = !bare.is_empty()
        && crate::lexer::is_ident_start(bare[0])
        && bare.iter().all(|c| crate::lexer::is_ident_char(*c));
    if valid {
        Ok(())
    } else {
        Err(KipError::new(
            ErrorCode::InvalidIdentifier,
            format!("{name:?} is not a valid type or predicate name; use [a-zA-Z_][a-zA-Z0-9_]*"),
        ))
    }
}

/// Removes `keys` from `map`; true when any was there.
fn remove_keys(map: &mut JsonMap, keys: &[String]) -> bool {
    let mut removed = false;
    for k in keys {
        removed |= map.remove(k.as_str()).is_some();
    }
    removed
}

fn check_update_paths(e: &UpdateExpr, var: &str) -> Result<()> {
    match e {
        UpdateExpr::Add(a, b) | UpdateExpr::Mul(a, b) | UpdateExpr::Coalesce(a, b) => {
            check_update_paths(a, var)?;
            check_update_paths(b, var)
        }
        UpdateExpr::Clamp(a, b, c) => {
            check_update_paths(a, var)?;
            check_update_paths(b, var)?;
            check_update_paths(c, var)
        }
        UpdateExpr::Path(p) if p.var != var => Err(KipError::syntax(format!(
            "UPDATE expressions may only read the target ?{var}, not ?{}",
            p.var
        ))),
        _ => Ok(()),
    }
}

fn arith(
    a: &Value,
    b: &Value,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Value {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) if int(x, y).is_some() => Value::from(int(x, y).unwrap_or_default()),
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => {
                    Number::from_f64(float(x, y)).map_or(Value::Null, Value::Number)
                }
                _ => Value::Null,
            },
        },
        _ => Value::Null,
    }
}

fn eval_update(ctx: &Ctx<'_, '_>, e: &UpdateExpr, binding: &Binding) -> Result<Value> {
    Ok(match e {
        UpdateExpr::Number(n) => Value::Number(n.clone()),
        UpdateExpr::Path(p) => value_of(ctx.store, binding, &p.field)?,
        UpdateExpr::Add(a, b) => arith(
            &eval_update(ctx, a, binding)?,
            &eval_update(ctx, b, binding)?,
            i64::checked_add,
            |x, y| x + y,
        ),
        UpdateExpr::Mul(a, b) => arith(
            &eval_update(ctx, a, binding)?,
            &eval_update(ctx, b, binding)?,
            i64::checked_mul,
            |x, y| x * y,
        ),
        UpdateExpr::Coalesce(a, b) => {
            let a = eval_update(ctx, a, binding)?;
            if a.is_null() {
                eval_update(ctx, b, binding)?
            } else {
                a
            }
        }
        UpdateExpr::Clamp(x, lo, hi) => {
            let (x, lo, hi) = (
                eval_update(ctx, x, binding)?,
                eval_update(ctx, lo, binding)?,
                eval_update(ctx, hi, binding)?,
            );
            match (x.as_f64(), lo.as_f64(), hi.as_f64()) {
                (Some(v), Some(l), Some(_)) if v < l => lo,
                (Some(v), Some(_), Some(h)) if v > h => hi,
                (Some(_), Some(_), Some(_)) => x,
                _ => Value::Null,
            }
        }
    })
}

impl Writer<'_, '_, '_> {
    /// A MERGE whose source is gone: when a concept of the source's type records it in
    /// `_merged_from`, the replay of a finished MERGE, said in the hint.
    fn merged_already(&self, merge: &Merge, error: KipError) -> KipError {
        let source = merge.clauses.iter().find_map(|c| match c {
            Clause::Concept { var, matcher } if *var == merge.source => Some(matcher),
            _ => None,
        });
        let Some(ConceptMatch {
            ty: Some(ty),
            name: Some(name),
            ..
        }) = source
        else {
            return error;
        };
        let key = format!("{ty}:{name}");
        let into = self.store().concepts_of_type(ty).ok().and_then(|all| {
            all.into_iter().find(|c| {
                c.metadata
                    .get("_merged_from")
                    .and_then(Value::as_array)
                    .is_some_and(|from| from.iter().any(|f| f.as_str() == Some(key.as_str())))
            })
        });
        match into {
            Some(c) => error.with_hint(format!(
                "{key} was already merged into {}:{} (see its _merged_from); this MERGE has run before",
                c.ty, c.name
            )),
            None => error,
        }
    }
}
