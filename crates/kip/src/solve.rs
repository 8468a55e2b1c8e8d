//! Pattern matching (spec §4): WHERE clauses turn into solution tables.
//!
//! Solutions are kept as independent components: variables that no clause connects live
//! in separate tables, so an aggregate over one is not multiplied by the other and an
//! uncorrelated NOT is a no-op, as in the reference engine. A clause that mentions
//! variables of several components joins them first.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use serde_json::Value;

use crate::ast::*;
use crate::error::{ErrorCode, KipError, Result};
use crate::parser::MAX_HOPS;
use crate::store::{parse_concept_id, parse_link_id, Concept, GraphStore, Link, Ref};
use crate::value::{compare, loosely_equal, value_of, Binding};

/// Solutions bigger than this are refused with KIP_4002 rather than exhausting memory.
pub const MAX_ROWS: usize = 2_000_000;
const ROW_COLUMN: &str = "#row";

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub vars: Vec<String>,
    pub rows: Vec<Vec<Binding>>,
}

impl Table {
    pub fn unit() -> Self {
        Table {
            vars: Vec::new(),
            rows: vec![Vec::new()],
        }
    }

    pub fn col(&self, var: &str) -> Option<usize> {
        self.vars.iter().position(|v| v == var)
    }

    fn cross(self, other: Table) -> Result<Table> {
        if self.rows.len().saturating_mul(other.rows.len()) > MAX_ROWS {
            return Err(KipError::exhausted(
                "the pattern's solutions exceed the engine's limit; anchor it on a known node",
            ));
        }
        let mut vars = self.vars;
        vars.extend(other.vars);
        let mut rows = Vec::with_capacity(self.rows.len() * other.rows.len());
        for a in &self.rows {
            for b in &other.rows {
                let mut row = a.clone();
                row.extend(b.iter().cloned());
                rows.push(row);
            }
        }
        Ok(Table { vars, rows })
    }

    /// The table restricted to `vars` (in that order), duplicates removed, first seen kept.
    pub fn project(&self, vars: &[String]) -> Table {
        let cols: Vec<Option<usize>> = vars.iter().map(|v| self.col(v)).collect();
        let mut seen = HashSet::new();
        let mut rows = Vec::new();
        for row in &self.rows {
            let projected: Vec<Binding> = cols
                .iter()
                .map(|c| c.map_or(Binding::Null, |c| row[c].clone()))
                .collect();
            if seen.insert(projected.clone()) {
                rows.push(projected);
            }
        }
        Table {
            vars: vars.to_vec(),
            rows,
        }
    }
}

#[derive(Debug, Default)]
pub struct Solutions {
    pub parts: Vec<Table>,
}

impl Solutions {
    pub fn part_of(&self, var: &str) -> Option<usize> {
        self.parts.iter().position(|p| p.col(var).is_some())
    }

    pub fn is_bound(&self, var: &str) -> bool {
        self.part_of(var).is_some()
    }

    /// Joins every component holding one of `vars` into one and returns its index; a
    /// new unit component when none does.
    pub fn merge(&mut self, vars: &[&str]) -> Result<usize> {
        let mut indexes: Vec<usize> = vars.iter().filter_map(|v| self.part_of(v)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        if indexes.is_empty() {
            self.parts.push(Table::unit());
            return Ok(self.parts.len() - 1);
        }
        let mut merged: Option<Table> = None;
        for i in indexes.iter().rev() {
            let part = self.parts.remove(*i);
            merged = Some(match merged {
                None => part,
                Some(m) => part.cross(m)?,
            });
        }
        self.parts.push(merged.unwrap_or_else(Table::unit));
        Ok(self.parts.len() - 1)
    }

    /// Everything joined into one table (a unit table when there is nothing).
    pub fn into_single(mut self) -> Result<Table> {
        if self.parts.is_empty() {
            return Ok(Table::unit());
        }
        let all: Vec<String> = self.parts.iter().flat_map(|p| p.vars.clone()).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let i = self.merge(&refs)?;
        Ok(self.parts.swap_remove(i))
    }

    /// The joined table of the components holding `vars`, projected onto `vars`.
    pub fn table_for(&self, vars: &[String]) -> Result<Table> {
        let mut indexes: Vec<usize> = vars.iter().filter_map(|v| self.part_of(v)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut joined = Table::unit();
        for i in indexes {
            // Project each part first so the join carries only what is needed.
            let wanted: Vec<String> = self.parts[i]
                .vars
                .iter()
                .filter(|v| vars.contains(v))
                .cloned()
                .collect();
            joined = joined.cross(self.parts[i].project(&wanted))?;
        }
        Ok(joined.project(vars))
    }
}

/// Shared state of one command's evaluation.
pub struct Ctx<'s, 'c> {
    pub store: &'s (dyn GraphStore + 'c),
    pub deadline: Option<Instant>,
    anon: std::cell::Cell<usize>,
    /// Variables first bound inside an OPTIONAL block: aggregates over them stay global.
    pub optional_vars: RefCell<HashSet<String>>,
    regexes: RefCell<HashMap<String, Rc<regex::Regex>>>,
    ticks: std::cell::Cell<u32>,
}

impl<'s, 'c> Ctx<'s, 'c> {
    pub fn new(store: &'s (dyn GraphStore + 'c), deadline: Option<Instant>) -> Self {
        Ctx {
            store,
            deadline,
            anon: Default::default(),
            optional_vars: Default::default(),
            regexes: Default::default(),
            ticks: Default::default(),
        }
    }

    fn anon_var(&self) -> String {
        let n = self.anon.get() + 1;
        self.anon.set(n);
        format!("#anon{n}")
    }

    /// Checks the time budget every few thousand steps.
    pub fn tick(&self) -> Result<()> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t.is_multiple_of(4096) {
            if let Some(deadline) = self.deadline {
                if Instant::now() > deadline {
                    return Err(KipError::new(
                        ErrorCode::ExecutionTimeout,
                        "the command exceeded its time limit",
                    ));
                }
            }
        }
        Ok(())
    }

    fn regex(&self, pattern: &str) -> Result<Rc<regex::Regex>> {
        if let Some(r) = self.regexes.borrow().get(pattern) {
            return Ok(r.clone());
        }
        let compiled = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| KipError::syntax(format!("invalid REGEX pattern: {e}")))?;
        let compiled = Rc::new(compiled);
        self.regexes
            .borrow_mut()
            .insert(pattern.to_string(), compiled.clone());
        Ok(compiled)
    }
}

pub fn concept_matches(c: &Concept, m: &ConceptMatch) -> bool {
    m.id.as_deref()
        .is_none_or(|id| parse_concept_id(id) == Some(c.id))
        && m.ty.as_deref().is_none_or(|t| t == c.ty)
        && m.name.as_deref().is_none_or(|n| n == c.name)
}

/// The concepts a matcher names, in id order.
pub fn concepts_matching(store: &dyn GraphStore, m: &ConceptMatch) -> Result<Vec<Rc<Concept>>> {
    if let Some(id) = &m.id {
        let found = match parse_concept_id(id) {
            Some(n) => store.concept(n)?,
            None => None,
        };
        return Ok(found
            .into_iter()
            .filter(|c| concept_matches(c, m))
            .collect());
    }
    match (&m.ty, &m.name) {
        (Some(t), Some(n)) => Ok(store.concept_by_key(t, n)?.into_iter().collect()),
        (Some(t), None) => store.concepts_of_type(t),
        (None, Some(n)) => store.concepts_named(n),
        (None, None) => Ok(Vec::new()),
    }
}

fn missing_concept(m: &ConceptMatch) -> KipError {
    KipError::not_found(format!("concept {m} not found"))
}

/// Every variable a clause list mentions (handles, endpoints, FILTER paths), nested too.
pub fn clause_vars(clauses: &[Clause], out: &mut Vec<String>) {
    fn add(out: &mut Vec<String>, v: &str) {
        if !out.iter().any(|x| x == v) {
            out.push(v.to_string());
        }
    }
    fn pattern(p: &PropPattern, out: &mut Vec<String>) {
        if let PropPattern::Triple {
            subject,
            predicate,
            object,
        } = p
        {
            for t in [subject, object] {
                match t {
                    Term::Var(v) => add(out, v),
                    Term::Proposition(inner) => pattern(inner, out),
                    Term::Concept(_) => {}
                }
            }
            if let Pred::Var(v) = predicate {
                add(out, v);
            }
        }
    }
    for clause in clauses {
        match clause {
            Clause::Concept { var, .. } => add(out, var),
            Clause::Proposition { var, pattern: p } => {
                if let Some(v) = var {
                    add(out, v);
                }
                pattern(p, out);
            }
            Clause::Filter(e) => {
                let mut vars = Vec::new();
                expr_vars(e, &mut vars);
                vars.iter().for_each(|v| add(out, v));
            }
            Clause::Optional(b) | Clause::Not(b) | Clause::Union(b) => clause_vars(b, out),
        }
    }
}

pub fn expr_vars(e: &Expr, out: &mut Vec<String>) {
    let operand = |o: &Operand, out: &mut Vec<String>| {
        if let Operand::Path(p) = o {
            if !out.contains(&p.var) {
                out.push(p.var.clone());
            }
        }
    };
    match e {
        Expr::Or(parts) | Expr::And(parts) => parts.iter().for_each(|p| expr_vars(p, out)),
        Expr::Not(inner) => expr_vars(inner, out),
        Expr::Compare(a, _, b) => {
            operand(a, out);
            operand(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| operand(a, out)),
    }
}

/// Evaluates a clause list onto `sols`. `strict` is true for mandatory patterns, where a
/// `{type,name}` / `{id}` that names nothing is KIP_3002 rather than a miss.
/// The variable a FILTER reads, if it reads exactly one (such a FILTER may narrow that
/// variable's concept scan in the store).
fn single_var(expr: &Expr) -> Option<String> {
    let mut vars = Vec::new();
    expr_vars(expr, &mut vars);
    (vars.len() == 1).then(|| vars.pop()).flatten()
}

pub fn eval_clauses(
    ctx: &Ctx<'_, '_>,
    sols: &mut Solutions,
    clauses: &[Clause],
    strict: bool,
) -> Result<()> {
    // FILTERs on one variable narrow that variable's concept scan in SQL. Not when a
    // UNION is present: a FILTER after it applies to the branch rows too.
    let mut pushed: Vec<(String, &Expr)> = Vec::new();
    if !clauses.iter().any(|c| matches!(c, Clause::Union(_))) {
        for clause in clauses {
            if let Clause::Filter(e) = clause {
                if let Some(var) = single_var(e) {
                    pushed.push((var, e));
                }
            }
        }
    }
    for clause in clauses {
        match clause {
            Clause::Concept { var, matcher }
                if !sols.is_bound(var) && pushed.iter().any(|(v, _)| v == var) =>
            {
                let filters: Vec<&Expr> = pushed
                    .iter()
                    .filter(|(v, _)| v == var)
                    .map(|(_, f)| *f)
                    .collect();
                eval_concept(ctx, sols, var, matcher, strict, &filters)?
            }
            Clause::Concept { var, matcher } => eval_concept(ctx, sols, var, matcher, strict, &[])?,
            Clause::Proposition { var, pattern } => {
                eval_proposition(ctx, sols, var.as_deref(), pattern, strict)?
            }
            Clause::Filter(expr) => eval_filter(ctx, sols, expr)?,
            Clause::Optional(block) => eval_optional(ctx, sols, block)?,
            Clause::Not(block) => eval_not(ctx, sols, block)?,
            Clause::Union(block) => eval_union(ctx, sols, block)?,
        }
    }
    Ok(())
}

/// Binds `var` to the concepts `m` names, or narrows it when already bound. A first
/// binding takes the FILTERs pushed down onto `var`, if any, into its SQL scan.
fn eval_concept(
    ctx: &Ctx<'_, '_>,
    sols: &mut Solutions,
    var: &str,
    m: &ConceptMatch,
    strict: bool,
    pushed: &[&Expr],
) -> Result<()> {
    if let Some(p) = sols.part_of(var) {
        if strict && m.is_unique() && concepts_matching(ctx.store, m)?.is_empty() {
            return Err(missing_concept(m));
        }
        let part = &mut sols.parts[p];
        let col = part.col(var).unwrap_or_default();
        let mut keep = Vec::with_capacity(part.rows.len());
        for row in std::mem::take(&mut part.rows) {
            ctx.tick()?;
            let ok = match &row[col] {
                Binding::Node(Ref::Concept(id)) => ctx
                    .store
                    .concept(*id)?
                    .is_some_and(|c| concept_matches(&c, m)),
                _ => false,
            };
            if ok {
                keep.push(row);
            }
        }
        part.rows = keep;
        return Ok(());
    }
    let narrowed = if !pushed.is_empty() && m.id.is_none() && (m.ty.is_some() || m.name.is_some()) {
        if strict && m.is_unique() && concepts_matching(ctx.store, m)?.is_empty() {
            return Err(missing_concept(m));
        }
        ctx.store
            .concepts_filtered(m.ty.as_deref(), m.name.as_deref(), pushed)?
    } else {
        None
    };
    let found = match narrowed {
        Some(found) => found,
        None => concepts_matching(ctx.store, m)?,
    };
    if found.is_empty() && strict && m.is_unique() {
        return Err(missing_concept(m));
    }
    sols.parts.push(Table {
        vars: vec![var.to_string()],
        rows: found
            .iter()
            .map(|c| vec![Binding::Node(Ref::Concept(c.id))])
            .collect(),
    });
    Ok(())
}

/// An embedded endpoint becomes a hidden variable bound by its own clause first.
fn endpoint(ctx: &Ctx<'_, '_>, sols: &mut Solutions, term: &Term, strict: bool) -> Result<String> {
    match term {
        Term::Var(v) => Ok(v.clone()),
        Term::Concept(m) => {
            let var = ctx.anon_var();
            eval_concept(ctx, sols, &var, m, strict, &[])?;
            Ok(var)
        }
        Term::Proposition(p) => {
            let var = ctx.anon_var();
            eval_proposition(ctx, sols, Some(&var), p, strict)?;
            Ok(var)
        }
    }
}

fn eval_proposition(
    ctx: &Ctx<'_, '_>,
    sols: &mut Solutions,
    var: Option<&str>,
    pattern: &PropPattern,
    strict: bool,
) -> Result<()> {
    match pattern {
        PropPattern::Id(id) => {
            let found = match parse_link_id(id) {
                Some((n, _)) => ctx.store.link(n)?,
                None => None,
            };
            if found.is_none() && strict {
                return Err(KipError::not_found(format!("proposition {id} not found")));
            }
            let var = var.map(str::to_string).unwrap_or_else(|| ctx.anon_var());
            let rows: Vec<Vec<Binding>> = found
                .iter()
                .map(|l| vec![Binding::Node(Ref::Link(l.id))])
                .collect();
            match sols.part_of(&var) {
                Some(p) => {
                    let part = &mut sols.parts[p];
                    let col = part.col(&var).unwrap_or_default();
                    part.rows
                        .retain(|row| rows.iter().any(|r| r[0] == row[col]));
                }
                None => sols.parts.push(Table {
                    vars: vec![var],
                    rows,
                }),
            }
            Ok(())
        }
        PropPattern::Triple {
            subject,
            predicate,
            object,
        } => {
            let s = endpoint(ctx, sols, subject, strict)?;
            let o = endpoint(ctx, sols, object, strict)?;
            match predicate {
                Pred::Hops { name, min, max } => {
                    if var.is_some() {
                        return Err(KipError::syntax(
                            "a multi-hop pattern cannot bind a proposition variable",
                        ));
                    }
                    walk(ctx, sols, &s, name, *min, *max, &o)
                }
                Pred::Name(n) => {
                    join_links(ctx, sols, var, &s, Some(std::slice::from_ref(n)), None, &o)
                }
                Pred::Alternatives(names) => join_links(ctx, sols, var, &s, Some(names), None, &o),
                Pred::Var(p) => join_links(ctx, sols, var, &s, None, Some(p), &o),
            }
        }
    }
}

type LinkKey = (Option<Binding>, Option<Binding>, Option<Binding>);

/// Joins one `?l (?s, pred, ?o)` pattern into the solutions, per solution row.
fn join_links(
    ctx: &Ctx<'_, '_>,
    sols: &mut Solutions,
    lvar: Option<&str>,
    s: &str,
    names: Option<&[String]>,
    pvar: Option<&str>,
    o: &str,
) -> Result<()> {
    let mut vars: Vec<&str> = vec![s, o];
    vars.extend(lvar);
    vars.extend(pvar);
    let p = sols.merge(&vars)?;
    let mut part = std::mem::take(&mut sols.parts[p]);
    let col = |v: Option<&str>| v.and_then(|v| part.col(v));
    let (lc, sc, oc, pc) = (col(lvar), part.col(s), part.col(o), col(pvar));
    // Variables this pattern binds, in order, without repeats (`(?x, "p", ?x)`).
    let mut new_vars: Vec<String> = Vec::new();
    for v in [lvar, Some(s), pvar, Some(o)].into_iter().flatten() {
        if part.col(v).is_none() && !new_vars.iter().any(|n| n == v) {
            new_vars.push(v.to_string());
        }
    }
    let single_pred = names.filter(|n| n.len() == 1).map(|n| n[0].as_str());
    let mut cache: HashMap<LinkKey, Rc<Vec<Rc<Link>>>> = HashMap::new();
    let mut rows = Vec::new();
    for row in &part.rows {
        ctx.tick()?;
        let get = |c: Option<usize>| c.map(|c| row[c].clone());
        let (bl, bs, bo, bp) = (get(lc), get(sc), get(oc), get(pc));
        if [&bl, &bs, &bo, &bp]
            .iter()
            .any(|b| matches!(b, Some(Binding::Null | Binding::Row(_))))
        {
            continue;
        }
        let key: LinkKey = (bl.clone(), bs.clone(), bo.clone());
        let candidates = match cache.get(&key) {
            Some(c) => c.clone(),
            None => {
                let found = match (&bl, &bs, &bo) {
                    (Some(Binding::Node(Ref::Link(id))), ..) => {
                        ctx.store.link(*id)?.into_iter().collect()
                    }
                    (Some(_), ..) => Vec::new(),
                    (None, Some(Binding::Node(subject)), _) => {
                        ctx.store.links_from(*subject, single_pred)?
                    }
                    (None, None, Some(Binding::Node(object))) => {
                        ctx.store.links_to(*object, single_pred)?
                    }
                    (None, Some(_), _) | (None, None, Some(_)) => Vec::new(),
                    (None, None, None) => ctx.store.links_with_predicate(single_pred)?,
                };
                let found = Rc::new(found);
                cache.insert(key, found.clone());
                found
            }
        };
        for link in candidates.iter() {
            if names.is_some_and(|n| !n.iter().any(|n| *n == link.predicate)) {
                continue;
            }
            if let Some(Binding::Predicate(p)) = &bp {
                if **p != *link.predicate {
                    continue;
                }
            }
            if bs
                .as_ref()
                .is_some_and(|b| *b != Binding::Node(link.subject))
                || bo
                    .as_ref()
                    .is_some_and(|b| *b != Binding::Node(link.object))
                || (s == o && link.subject != link.object)
            {
                continue;
            }
            let mut out = row.clone();
            for v in &new_vars {
                out.push(if Some(v.as_str()) == lvar {
                    Binding::Node(Ref::Link(link.id))
                } else if v == s {
                    Binding::Node(link.subject)
                } else if v == o {
                    Binding::Node(link.object)
                } else {
                    Binding::Predicate(Rc::from(link.predicate.as_str()))
                });
            }
            rows.push(out);
            if rows.len() > MAX_ROWS {
                return Err(KipError::exhausted(
                    "the pattern's solutions exceed the engine's limit; anchor it on a known node",
                ));
            }
        }
    }
    part.vars.extend(new_vars);
    part.rows = rows;
    sols.parts[p] = part;
    Ok(())
}

/// `(?s, "p"{min,max}, ?o)`: a directed walk from whichever end is bound (spec §4).
fn walk(
    ctx: &Ctx<'_, '_>,
    sols: &mut Solutions,
    s: &str,
    predicate: &str,
    min: u32,
    max: Option<u32>,
    o: &str,
) -> Result<()> {
    if max.is_some_and(|m| m > MAX_HOPS) || min > MAX_HOPS + 1 {
        return Err(KipError::exhausted(format!(
            "multi-hop ranges are capped at {MAX_HOPS} hops"
        )));
    }
    let max = max.unwrap_or(MAX_HOPS);
    let (from, to, forward) = match (sols.is_bound(s), sols.is_bound(o)) {
        (true, _) => (s, o, true),
        (false, true) => (o, s, false),
        (false, false) => {
            return Err(KipError::syntax(
                "subject and object cannot both be variables in multi-hop matching",
            ))
        }
    };
    let p = sols.merge(&[from, to])?;
    let mut part = std::mem::take(&mut sols.parts[p]);
    let fc = part.col(from).unwrap_or_default();
    let tc = part.col(to);
    let mut reach_cache: HashMap<Ref, Rc<Vec<Ref>>> = HashMap::new();
    let mut rows = Vec::new();
    for row in &part.rows {
        let Binding::Node(start) = row[fc] else {
            continue;
        };
        let reach = match reach_cache.get(&start) {
            Some(r) => r.clone(),
            None => {
                let r = Rc::new(reachable(ctx, start, predicate, min, max, forward)?);
                reach_cache.insert(start, r.clone());
                r
            }
        };
        match tc {
            Some(tc) => {
                if let Binding::Node(end) = row[tc] {
                    if reach.contains(&end) {
                        rows.push(row.clone());
                    }
                }
            }
            None => {
                for end in reach.iter() {
                    let mut out = row.clone();
                    out.push(Binding::Node(*end));
                    rows.push(out);
                }
            }
        }
    }
    if tc.is_none() {
        part.vars.push(to.to_string());
    }
    part.rows = rows;
    sols.parts[p] = part;
    Ok(())
}

/// Nodes reachable from `start` by a walk of `min..=max` hops, each once, in the order
/// first reached.
fn reachable(
    ctx: &Ctx<'_, '_>,
    start: Ref,
    predicate: &str,
    min: u32,
    max: u32,
    forward: bool,
) -> Result<Vec<Ref>> {
    let mut out = Vec::new();
    let mut emitted = HashSet::new();
    let mut level = vec![start];
    // Nodes already expanded at a depth >= min: everything after them is already out,
    // with more hops to spare, so cycles stop here.
    let mut expanded: HashSet<Ref> = HashSet::new();
    for depth in 0..=max {
        if depth >= min {
            for node in &level {
                if emitted.insert(*node) {
                    out.push(*node);
                }
            }
        }
        if depth == max {
            break;
        }
        let mut next = Vec::new();
        let mut seen_next = HashSet::new();
        for node in &level {
            ctx.tick()?;
            if depth >= min && !expanded.insert(*node) {
                continue;
            }
            for n in ctx.store.neighbours(*node, predicate, forward)? {
                if seen_next.insert(n) {
                    next.push(n);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Ok(out)
}

fn eval_filter(ctx: &Ctx<'_, '_>, sols: &mut Solutions, expr: &Expr) -> Result<()> {
    let mut vars = Vec::new();
    expr_vars(expr, &mut vars);
    let bound: Vec<&str> = vars
        .iter()
        .map(String::as_str)
        .filter(|v| sols.is_bound(v))
        .collect();
    if bound.is_empty() {
        // A constant condition keeps or discards everything.
        if !eval_expr(ctx, expr, &|_| Binding::Null)? {
            for part in &mut sols.parts {
                part.rows.clear();
            }
            if sols.parts.is_empty() {
                sols.parts.push(Table::default());
            }
        }
        return Ok(());
    }
    let p = sols.merge(&bound)?;
    let part = &mut sols.parts[p];
    let vars_cols: Vec<(String, usize)> = part
        .vars
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), i))
        .collect();
    let mut keep = Vec::with_capacity(part.rows.len());
    for row in std::mem::take(&mut part.rows) {
        ctx.tick()?;
        let lookup = |v: &str| {
            vars_cols
                .iter()
                .find(|(name, _)| name == v)
                .map_or(Binding::Null, |(_, i)| row[*i].clone())
        };
        if eval_expr(ctx, expr, &lookup)? {
            keep.push(row);
        }
    }
    part.rows = keep;
    Ok(())
}

fn operand_value(
    ctx: &Ctx<'_, '_>,
    op: &Operand,
    lookup: &dyn Fn(&str) -> Binding,
) -> Result<Value> {
    match op {
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Path(p) => value_of(ctx.store, &lookup(&p.var), &p.field),
    }
}

pub fn eval_expr(ctx: &Ctx<'_, '_>, expr: &Expr, lookup: &dyn Fn(&str) -> Binding) -> Result<bool> {
    Ok(match expr {
        Expr::Or(parts) => {
            for p in parts {
                if eval_expr(ctx, p, lookup)? {
                    return Ok(true);
                }
            }
            false
        }
        Expr::And(parts) => {
            for p in parts {
                if !eval_expr(ctx, p, lookup)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Not(inner) => !eval_expr(ctx, inner, lookup)?,
        Expr::Compare(a, op, b) => {
            let (a, b) = (
                operand_value(ctx, a, lookup)?,
                operand_value(ctx, b, lookup)?,
            );
            match compare(&a, &b) {
                None => false,
                Some(ord) => match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                },
            }
        }
        Expr::Call(func, args) => {
            let a = operand_value(ctx, &args[0], lookup)?;
            match func {
                Func::IsNull => a.is_null(),
                Func::IsNotNull => !a.is_null(),
                Func::In => match &args[1] {
                    Operand::Literal(Value::Array(items)) => {
                        items.iter().any(|i| loosely_equal(&a, i))
                    }
                    _ => false,
                },
                _ => {
                    let b = operand_value(ctx, &args[1], lookup)?;
                    match (func, &a, &b) {
                        (Func::Contains, Value::String(x), Value::String(y)) => {
                            x.contains(y.as_str())
                        }
                        (Func::Contains, Value::Array(items), y) => {
                            items.iter().any(|i| loosely_equal(i, y))
                        }
                        (Func::StartsWith, Value::String(x), Value::String(y)) => {
                            x.starts_with(y.as_str())
                        }
                        (Func::EndsWith, Value::String(x), Value::String(y)) => {
                            x.ends_with(y.as_str())
                        }
                        (Func::Regex, Value::String(x), Value::String(y)) => {
                            ctx.regex(y)?.is_match(x)
                        }
                        _ => false,
                    }
                }
            }
        }
    })
}

/// Adds the hidden row number to the component holding the block's shared variables.
fn numbered_part(sols: &mut Solutions, shared: &[&str]) -> Result<(usize, Table)> {
    let p = sols.merge(shared)?;
    let mut base = sols.parts[p].clone();
    base.vars.push(ROW_COLUMN.to_string());
    for (i, row) in base.rows.iter_mut().enumerate() {
        row.push(Binding::Row(i));
    }
    Ok((p, base))
}

fn shared_vars<'a>(
    sols: &Solutions,
    block: &'a [Clause],
    all: &'a mut Vec<String>,
) -> Vec<&'a str> {
    clause_vars(block, all);
    all.iter()
        .map(String::as_str)
        .filter(|v| sols.is_bound(v))
        .collect()
}

fn eval_optional(ctx: &Ctx<'_, '_>, sols: &mut Solutions, block: &[Clause]) -> Result<()> {
    let mut all = Vec::new();
    let shared = shared_vars(sols, block, &mut all);
    let (p, base) = if shared.is_empty() {
        sols.parts.push(Table::unit());
        let p = sols.parts.len() - 1;
        let mut base = Table::unit();
        base.vars.push(ROW_COLUMN.to_string());
        base.rows[0].push(Binding::Row(0));
        (p, base)
    } else {
        numbered_part(sols, &shared)?
    };
    let outer = sols.parts[p].clone();
    let mut inner = Solutions { parts: vec![base] };
    eval_clauses(ctx, &mut inner, block, false)?;
    let result = inner.into_single()?;
    let new_vars: Vec<String> = result
        .vars
        .iter()
        .filter(|v| outer.col(v).is_none() && *v != ROW_COLUMN)
        .cloned()
        .collect();
    {
        let mut optional = ctx.optional_vars.borrow_mut();
        for v in &new_vars {
            optional.insert(v.clone());
        }
    }
    let row_col = result.col(ROW_COLUMN).unwrap_or_default();
    let outer_cols: Vec<usize> = outer
        .vars
        .iter()
        .map(|v| result.col(v).unwrap_or_default())
        .collect();
    let new_cols: Vec<usize> = new_vars
        .iter()
        .map(|v| result.col(v).unwrap_or_default())
        .collect();
    let mut by_row: HashMap<usize, Vec<&Vec<Binding>>> = HashMap::new();
    for row in &result.rows {
        if let Binding::Row(i) = row[row_col] {
            by_row.entry(i).or_default().push(row);
        }
    }
    let mut rows = Vec::new();
    for (i, row) in outer.rows.iter().enumerate() {
        match by_row.get(&i) {
            Some(matches) => {
                for m in matches {
                    let mut out: Vec<Binding> = outer_cols.iter().map(|c| m[*c].clone()).collect();
                    out.extend(new_cols.iter().map(|c| m[*c].clone()));
                    rows.push(out);
                }
            }
            None => {
                let mut out = row.clone();
                out.extend(new_vars.iter().map(|_| Binding::Null));
                rows.push(out);
            }
        }
    }
    let mut vars = outer.vars;
    vars.extend(new_vars);
    sols.parts[p] = Table { vars, rows };
    Ok(())
}

fn eval_not(ctx: &Ctx<'_, '_>, sols: &mut Solutions, block: &[Clause]) -> Result<()> {
    let mut all = Vec::new();
    let shared = shared_vars(sols, block, &mut all);
    if shared.is_empty() {
        // An uncorrelated NOT excludes nothing (reference behaviour, spec §4).
        return Ok(());
    }
    let (p, base) = numbered_part(sols, &shared)?;
    let mut inner = Solutions { parts: vec![base] };
    eval_clauses(ctx, &mut inner, block, false)?;
    let result = inner.into_single()?;
    let row_col = result.col(ROW_COLUMN).unwrap_or_default();
    let excluded: HashSet<usize> = result
        .rows
        .iter()
        .filter_map(|r| match r[row_col] {
            Binding::Row(i) => Some(i),
            _ => None,
        })
        .collect();
    let part = &mut sols.parts[p];
    let mut i = 0;
    part.rows.retain(|_| {
        let keep = !excluded.contains(&i);
        i += 1;
        keep
    });
    Ok(())
}

fn eval_union(ctx: &Ctx<'_, '_>, sols: &mut Solutions, block: &[Clause]) -> Result<()> {
    let mut branch = Solutions::default();
    eval_clauses(ctx, &mut branch, block, false)?;
    let branch = branch.into_single()?;
    let main = if sols.parts.is_empty() {
        Table::default()
    } else {
        std::mem::take(sols).into_single()?
    };
    let mut vars = main.vars.clone();
    for v in &branch.vars {
        if !vars.contains(v) {
            vars.push(v.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for table in [&main, &branch] {
        let cols: Vec<Option<usize>> = vars.iter().map(|v| table.col(v)).collect();
        for row in &table.rows {
            let out: Vec<Binding> = cols
                .iter()
                .map(|c| c.map_or(Binding::Null, |c| row[c].clone()))
                .collect();
            if seen.insert(out.clone()) {
                rows.push(out);
            }
        }
    }
    sols.parts = vec![Table { vars, rows }];
    Ok(())
}
