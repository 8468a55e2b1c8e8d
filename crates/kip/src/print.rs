//! Canonical text for a command: `parse(print(c)) == c` for every command the parser
//! accepts, which the property tests check.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;

fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn json(v: &Json) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn map(m: &JsonMap) -> String {
    json(&Json::Object(m.clone()))
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "?{}", self.var)?;
        match &self.field {
            Field::Whole => Ok(()),
            Field::Attribute(k) => write!(f, ".attributes.{k}"),
            Field::Meta(k) => write!(f, ".metadata.{k}"),
            simple => {
                let name = Field::SIMPLE
                    .iter()
                    .find(|(x, _)| x == simple)
                    .map_or("id", |(_, n)| *n);
                write!(f, ".{name}")
            }
        }
    }
}

impl Display for FindItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FindItem::Path(p) => p.fmt(f),
            FindItem::Aggregate(a) => {
                write!(
                    f,
                    "{}({}{})",
                    a.func.keyword(),
                    if a.distinct { "DISTINCT " } else { "" },
                    a.path
                )
            }
        }
    }
}

impl Display for ConceptMatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(format!("id: {}", string(id)));
        }
        if let Some(ty) = &self.ty {
            parts.push(format!("type: {}", string(ty)));
        }
        if let Some(name) = &self.name {
            parts.push(format!("name: {}", string(name)));
        }
        write!(f, "{{{}}}", parts.join(", "))
    }
}

impl Display for Term {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Term::Var(v) => write!(f, "?{v}"),
            Term::Concept(m) => m.fmt(f),
            Term::Proposition(p) => p.fmt(f),
        }
    }
}

impl Display for Pred {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Pred::Var(v) => write!(f, "?{v}"),
            Pred::Name(n) => f.write_str(&string(n)),
            Pred::Hops { name, min, max } => match max {
                Some(max) if max == min => write!(f, "{}{{{min}}}", string(name)),
                Some(max) => write!(f, "{}{{{min},{max}}}", string(name)),
                None => write!(f, "{}{{{min},}}", string(name)),
            },
            Pred::Alternatives(names) => f.write_str(
                &names
                    .iter()
                    .map(|n| string(n))
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
        }
    }
}

impl Display for PropPattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PropPattern::Id(id) => write!(f, "(id: {})", string(id)),
            PropPattern::Triple {
                subject,
                predicate,
                object,
            } => write!(f, "({subject}, {predicate}, {object})"),
        }
    }
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => p.fmt(f),
            Operand::Literal(v) => f.write_str(&json(v)),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(parts) => write_joined(f, parts, " || "),
            Expr::And(parts) => write_joined(f, parts, " && "),
            Expr::Not(inner) => write!(f, "!({inner})"),
            Expr::Compare(a, op, b) => write!(f, "{a} {} {b}", op.symbol()),
            Expr::Call(func, args) => {
                let args: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{}({})", func.keyword(), args.join(", "))
            }
        }
    }
}

/// Sub-expressions are parenthesised so that precedence never depends on the printer.
fn write_joined(f: &mut Formatter<'_>, parts: &[Expr], sep: &str) -> fmt::Result {
    let parts: Vec<String> = parts.iter().map(|p| format!("({p})")).collect();
    f.write_str(&parts.join(sep))
}

fn clauses(list: &[Clause]) -> String {
    let mut out = String::from("{ ");
    for clause in list {
        let _ = write!(out, "{clause} ");
    }
    out.push('}');
    out
}

impl Display for Clause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Clause::Concept { var, matcher } => write!(f, "?{var} {matcher}"),
            Clause::Proposition {
                var: Some(var),
                pattern,
            } => write!(f, "?{var} {pattern}"),
            Clause::Proposition { var: None, pattern } => pattern.fmt(f),
            Clause::Filter(e) => write!(f, "FILTER({e})"),
            Clause::Optional(b) => write!(f, "OPTIONAL {}", clauses(b)),
            Clause::Not(b) => write!(f, "NOT {}", clauses(b)),
            Clause::Union(b) => write!(f, "UNION {}", clauses(b)),
        }
    }
}

fn limit_cursor(f: &mut Formatter<'_>, limit: Option<u64>, cursor: &Option<String>) -> fmt::Result {
    if let Some(l) = limit {
        write!(f, " LIMIT {l}")?;
    }
    if let Some(c) = cursor {
        write!(f, " CURSOR {}", string(c))?;
    }
    Ok(())
}

fn metadata(m: &Option<JsonMap>) -> String {
    m.as_ref()
        .map(|m| format!(" WITH METADATA {}", map(m)))
        .unwrap_or_default()
}

fn update_pairs(pairs: &[(String, UpdateValue)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                UpdateValue::Json(j) => json(j),
                UpdateValue::Expr(e) => e.to_string(),
            };
            format!("{}: {v}", string(k))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

impl Display for UpdateExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            UpdateExpr::Add(a, b) => write!(f, "ADD({a}, {b})"),
            UpdateExpr::Mul(a, b) => write!(f, "MUL({a}, {b})"),
            UpdateExpr::Coalesce(a, b) => write!(f, "COALESCE({a}, {b})"),
            UpdateExpr::Clamp(a, b, c) => write!(f, "CLAMP({a}, {b}, {c})"),
            UpdateExpr::Path(p) => p.fmt(f),
            UpdateExpr::Number(n) => write!(f, "{n}"),
        }
    }
}

fn keys(list: &[String]) -> String {
    list.iter()
        .map(|k| string(k))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Command::Find(find) => {
                let items: Vec<String> = find.items.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "FIND({}) WHERE {}",
                    items.join(", "),
                    clauses(&find.clauses)
                )?;
                if !find.order.is_empty() {
                    let order: Vec<String> = find
                        .order
                        .iter()
                        .map(|o| format!("{} {}", o.key, if o.descending { "DESC" } else { "ASC" }))
                        .collect();
                    write!(f, " ORDER BY {}", order.join(", "))?;
                }
                limit_cursor(f, find.limit, &find.cursor)
            }
            Command::Upsert(statements) => {
                for (i, statement) in statements.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    f.write_str("UPSERT { ")?;
                    for item in &statement.items {
                        match item {
                            UpsertItem::Concept(c) => {
                                f.write_str("CONCEPT ")?;
                                if let Some(h) = &c.handle {
                                    write!(f, "?{h} ")?;
                                }
                                write!(f, "{{ {}", c.matcher)?;
                                if let Some(v) = c.expect_version {
                                    write!(f, " EXPECT VERSION {v}")?;
                                }
                                if let Some(a) = &c.attributes {
                                    write!(f, " SET ATTRIBUTES {}", map(a))?;
                                }
                                if !c.propositions.is_empty() {
                                    f.write_str(" SET PROPOSITIONS { ")?;
                                    for p in &c.propositions {
                                        write!(
                                            f,
                                            "({}, {}){} ",
                                            string(&p.predicate),
                                            p.target,
                                            metadata(&p.metadata)
                                        )?;
                                    }
                                    f.write_str("}")?;
                                }
                                write!(f, " }}{} ", metadata(&c.metadata))?;
                            }
                            UpsertItem::Proposition(p) => {
                                f.write_str("PROPOSITION ")?;
                                if let Some(h) = &p.handle {
                                    write!(f, "?{h} ")?;
                                }
                                write!(f, "{{ {}", p.pattern)?;
                                if let Some(v) = p.expect_version {
                                    write!(f, " EXPECT VERSION {v}")?;
                                }
                                if let Some(a) = &p.attributes {
                                    write!(f, " SET ATTRIBUTES {}", map(a))?;
                                }
                                write!(f, " }}{} ", metadata(&p.metadata))?;
                            }
                        }
                    }
                    write!(f, "}}{}", metadata(&statement.metadata))?;
                }
                Ok(())
            }
            Command::Update(u) => {
                write!(f, "UPDATE ?{}", u.var)?;
                if let Some(a) = &u.attributes {
                    write!(f, " SET ATTRIBUTES {}", update_pairs(a))?;
                }
                if let Some(m) = &u.metadata {
                    write!(f, " SET METADATA {}", update_pairs(m))?;
                }
                write!(f, " WHERE {}", clauses(&u.clauses))?;
                limit_cursor(f, u.limit, &None)
            }
            Command::Merge(m) => write!(
                f,
                "MERGE CONCEPT ?{} INTO ?{} WHERE {}",
                m.source,
                m.target,
                clauses(&m.clauses)
            ),
            Command::Delete(d) => match d {
                Delete::Attributes {
                    keys: k,
                    var,
                    clauses: c,
                } => {
                    write!(
                        f,
                        "DELETE ATTRIBUTES {{{}}} FROM ?{var} WHERE {}",
                        keys(k),
                        clauses(c)
                    )
                }
                Delete::Metadata {
                    keys: k,
                    var,
                    clauses: c,
                } => {
                    write!(
                        f,
                        "DELETE METADATA {{{}}} FROM ?{var} WHERE {}",
                        keys(k),
                        clauses(c)
                    )
                }
                Delete::Propositions { var, clauses: c } => {
                    write!(f, "DELETE PROPOSITIONS ?{var} WHERE {}", clauses(c))
                }
                Delete::Concept { var, clauses: c } => {
                    write!(f, "DELETE CONCEPT ?{var} DETACH WHERE {}", clauses(c))
                }
            },
            Command::Describe(d) => match d {
                Describe::Primer => f.write_str("DESCRIBE PRIMER"),
                Describe::Domains => f.write_str("DESCRIBE DOMAINS"),
                Describe::Types {
                    kind,
                    limit,
                    cursor,
                } => {
                    write!(f, "DESCRIBE {} TYPES", kind.keyword())?;
                    limit_cursor(f, *limit, cursor)
                }
                Describe::Type { kind, name } => {
                    write!(f, "DESCRIBE {} TYPE {}", kind.keyword(), string(name))
                }
            },
            Command::Search(s) => {
                write!(f, "SEARCH {} {}", s.kind.keyword(), string(&s.term))?;
                if let Some(t) = &s.with_type {
                    write!(f, " WITH TYPE {}", string(t))?;
                }
                if let Some(m) = &s.mode {
                    write!(f, " MODE {}", string(m))?;
                }
                if let Some(t) = s.threshold {
                    write!(f, " THRESHOLD {}", json(&Json::from(t)))?;
                }
                limit_cursor(f, s.limit, &None)
            }
            Command::Export(e) => {
                write!(f, "EXPORT ?{} WHERE {}", e.var, clauses(&e.clauses))?;
                limit_cursor(f, e.limit, &e.cursor)
            }
        }
    }
}
