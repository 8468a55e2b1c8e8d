//! Recursive-descent parser for KIP 1.x (spec §3). Every error is KIP_1001 (or 4002 for
//! the size caps) with the position of the offending token.

use serde_json::{Map, Value};

use crate::ast::*;
use crate::error::{KipError, Position, Result};
use crate::lexer::{tokenize, Tok, Token};

/// Multi-hop walks stop at this many hops (spec §4, RC11).
pub const MAX_HOPS: u32 = 10;

pub fn parse(text: &str) -> Result<Command> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        pos: 0,
    };
    let command = parser.command()?;
    parser.expect_eof()?;
    Ok(command)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Var(v) => format!("`?{v}`"),
        Tok::Str(s) => format!("string {}", serde_json::to_string(s).unwrap_or_default()),
        Tok::Num(n) => format!("number {n}"),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "end of command".to_string(),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn bump(&mut self) -> Tok {
        let tok = self.tokens[self.pos].tok.clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn error_here(&self, message: impl Into<String>) -> KipError {
        KipError::syntax(message).at(Position::locate(self.text, self.tokens[self.pos].start))
    }

    fn unexpected(&self, wanted: &str) -> KipError {
        self.error_here(format!(
            "expected {wanted}, found {}",
            describe(self.peek())
        ))
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w == word)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    fn punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    fn var(&mut self) -> Result<String> {
        match self.peek().clone() {
            Tok::Var(v) => {
                self.bump();
                Ok(v)
            }
            _ => Err(self.unexpected("a variable `?name`")),
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("a string")),
        }
    }

    fn uint(&mut self) -> Result<u64> {
        match self.peek().clone() {
            Tok::Num(n) if n.as_u64().is_some() => {
                self.bump();
                Ok(n.as_u64().unwrap_or_default())
            }
            _ => Err(self.unexpected("a non-negative integer")),
        }
    }

    fn expect_eof(&mut self) -> Result<()> {
        if matches!(self.peek(), Tok::Eof) {
            Ok(())
        } else {
            Err(self.unexpected("end of command"))
        }
    }

    fn command(&mut self) -> Result<Command> {
        match self.peek() {
            Tok::Word(w) => match w.as_str() {
                "FIND" => self.find().map(Command::Find),
                "UPSERT" => {
                    let mut statements = vec![self.upsert()?];
                    while self.is_word("UPSERT") {
                        statements.push(self.upsert()?);
                    }
                    Ok(Command::Upsert(statements))
                }
                "UPDATE" => self.update().map(Command::Update),
                "MERGE" => self.merge().map(Command::Merge),
                "DELETE" => self.delete().map(Command::Delete),
                "DESCRIBE" => self.describe().map(Command::Describe),
                "SEARCH" => self.search().map(Command::Search),
                "EXPORT" => self.export().map(Command::Export),
                _ => Err(self
                    .unexpected("FIND, UPSERT, UPDATE, MERGE, DELETE, DESCRIBE, SEARCH or EXPORT")),
            },
            _ => {
                Err(self
                    .unexpected("FIND, UPSERT, UPDATE, MERGE, DELETE, DESCRIBE, SEARCH or EXPORT"))
            }
        }
    }

    // ---------- KQL ----------

    fn find(&mut self) -> Result<Find> {
        self.word("FIND")?;
        self.punct("(")?;
        let mut items = vec![self.find_item()?];
        while self.eat_punct(",") {
            items.push(self.find_item()?);
        }
        self.punct(")")?;
        let clauses = self.where_block()?;
        let mut order = Vec::new();
        if self.eat_word("ORDER") {
            self.word("BY")?;
            loop {
                let key = self.find_item()?;
                if matches!(&key, FindItem::Aggregate(a) if a.distinct) {
                    return Err(self.error_here("DISTINCT is not allowed in ORDER BY"));
                }
                let descending = if self.eat_word("DESC") {
                    true
                } else {
                    self.eat_word("ASC");
                    false
                };
                order.push(OrderItem { key, descending });
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let (limit, cursor) = self.limit_cursor()?;
        Ok(Find {
            items,
            clauses,
            order,
            limit,
            cursor,
        })
    }

    fn limit_cursor(&mut self) -> Result<(Option<u64>, Option<String>)> {
        let limit = if self.eat_word("LIMIT") {
            Some(self.uint()?)
        } else {
            None
        };
        let cursor = if self.eat_word("CURSOR") {
            Some(self.string()?)
        } else {
            None
        };
        Ok((limit, cursor))
    }

    fn find_item(&mut self) -> Result<FindItem> {
        if let Tok::Word(w) = self.peek() {
            if let Some((func, _)) = AggFunc::ALL.iter().find(|(_, k)| k == w) {
                let func = *func;
                self.bump();
                self.punct("(")?;
                let distinct = self.eat_word("DISTINCT");
                let path = self.path()?;
                self.punct(")")?;
                return Ok(FindItem::Aggregate(Aggregate {
                    func,
                    distinct,
                    path,
                }));
            }
        }
        Ok(FindItem::Path(self.path()?))
    }

    fn path(&mut self) -> Result<Path> {
        let var = self.var()?;
        if !self.eat_punct(".") {
            return Ok(Path {
                var,
                field: Field::Whole,
            });
        }
        let first = self.ident("a field name")?;
        let field = match first.as_str() {
            "attributes" | "metadata" if self.eat_punct(".") => {
                let key = self.ident("a key")?;
                if first == "attributes" {
                    Field::Attribute(key)
                } else {
                    Field::Meta(key)
                }
            }
            _ => Field::SIMPLE
                .iter()
                .find(|(_, name)| *name == first)
                .map(|(f, _)| f.clone())
                .ok_or_else(|| self.error_here(format!("`.{first}` is not a field; use id, type, name, subject, predicate, object, attributes or metadata")))?,
        };
        if self.is_punct(".") {
            return Err(
                self.error_here("a dot path has at most two parts, as in ?x.attributes.key")
            );
        }
        Ok(Path { var, field })
    }

    fn ident(&mut self, wanted: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Word(w) => {
                self.bump();
                Ok(w)
            }
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn where_block(&mut self) -> Result<Vec<Clause>> {
        self.word("WHERE")?;
        self.block()
    }

    fn block(&mut self) -> Result<Vec<Clause>> {
        self.punct("{")?;
        let mut clauses = Vec::new();
        while !self.is_punct("}") {
            clauses.push(self.clause()?);
        }
        if clauses.is_empty() {
            return Err(self.error_here("a block needs at least one clause"));
        }
        self.punct("}")?;
        Ok(clauses)
    }

    fn clause(&mut self) -> Result<Clause> {
        match self.peek().clone() {
            Tok::Var(var) => match self.peek_at(1) {
                Tok::Punct("{") => {
                    self.bump();
                    let matcher = self.concept_match()?;
                    Ok(Clause::Concept { var, matcher })
                }
                Tok::Punct("(") => {
                    self.bump();
                    let pattern = self.prop_pattern()?;
                    Ok(Clause::Proposition {
                        var: Some(var),
                        pattern,
                    })
                }
                _ => {
                    self.bump();
                    Err(self.unexpected("`{` or `(` after the variable"))
                }
            },
            Tok::Punct("(") => Ok(Clause::Proposition {
                var: None,
                pattern: self.prop_pattern()?,
            }),
            Tok::Word(w) => match w.as_str() {
                "FILTER" => {
                    self.bump();
                    self.punct("(")?;
                    let expr = self.or_expr()?;
                    self.punct(")")?;
                    Ok(Clause::Filter(expr))
                }
                "OPTIONAL" => {
                    self.bump();
                    Ok(Clause::Optional(self.block()?))
                }
                "NOT" => {
                    self.bump();
                    Ok(Clause::Not(self.block()?))
                }
                "UNION" => {
                    self.bump();
                    Ok(Clause::Union(self.block()?))
                }
                _ => Err(self.unexpected("a clause")),
            },
            _ => Err(self.unexpected("a clause")),
        }
    }

    fn concept_match(&mut self) -> Result<ConceptMatch> {
        let at = self.pos;
        self.punct("{")?;
        let mut matcher = ConceptMatch::default();
        loop {
            if self.is_punct("}") {
                break;
            }
            let key = match self.bump() {
                Tok::Word(w) => w,
                Tok::Str(s) => s,
                other => {
                    self.pos -= 1;
                    return Err(self.error_here(format!(
                        "expected a matcher key, found {}",
                        describe(&other)
                    )));
                }
            };
            self.punct(":")?;
            let value = self.string()?;
            let slot = match key.as_str() {
                "id" => &mut matcher.id,
                "type" => &mut matcher.ty,
                "name" => &mut matcher.name,
                _ => {
                    return Err(self.error_here(format!(
                        "`{key}` is not a matcher key; use id, type or name"
                    )))
                }
            };
            if slot.replace(value).is_some() {
                return Err(self.error_here(format!("`{key}` appears twice")));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        self.punct("}")?;
        let legal = match (&matcher.id, &matcher.ty, &matcher.name) {
            (Some(id), None, None) => {
                if !id.starts_with("C:") {
                    return Err(self.error_at(at, format!("`{id}` must be a Concept ID (C:…)")));
                }
                true
            }
            (None, Some(_), _) | (None, None, Some(_)) => true,
            _ => false,
        };
        if !legal {
            return Err(self.error_at(
                at,
                "a concept matcher is {id}, {type}, {name} or {type, name}",
            ));
        }
        Ok(matcher)
    }

    fn error_at(&self, token: usize, message: impl Into<String>) -> KipError {
        KipError::syntax(message).at(Position::locate(self.text, self.tokens[token].start))
    }

    fn prop_pattern(&mut self) -> Result<PropPattern> {
        self.punct("(")?;
        if self.is_word("id") && matches!(self.peek_at(1), Tok::Punct(":")) {
            self.bump();
            self.bump();
            let at = self.pos;
            let id = self.string()?;
            if !id.starts_with("P:") {
                return Err(self.error_at(at, format!("`{id}` must be a Proposition ID (P:…)")));
            }
            self.punct(")")?;
            return Ok(PropPattern::Id(id));
        }
        let subject = self.term()?;
        self.punct(",")?;
        let predicate = self.predicate()?;
        self.punct(",")?;
        let object = self.term()?;
        self.punct(")")?;
        Ok(PropPattern::Triple {
            subject,
            predicate,
            object,
        })
    }

    fn term(&mut self) -> Result<Term> {
        match self.peek() {
            Tok::Var(_) => Ok(Term::Var(self.var()?)),
            Tok::Punct("{") => Ok(Term::Concept(self.concept_match()?)),
            Tok::Punct("(") => Ok(Term::Proposition(Box::new(self.prop_pattern()?))),
            _ => Err(self.unexpected("a variable, a concept matcher {…} or a proposition (…)")),
        }
    }

    fn predicate(&mut self) -> Result<Pred> {
        if let Tok::Var(_) = self.peek() {
            let var = self.var()?;
            if self.is_punct("{") || self.is_punct("|") {
                return Err(
                    self.error_here("a predicate variable takes no hop range or alternatives")
                );
            }
            return Ok(Pred::Var(var));
        }
        let name = self.string()?;
        if self.eat_punct("{") {
            let min = self.hop_count()?;
            let max = if self.eat_punct(",") {
                if self.is_punct("}") {
                    None
                } else {
                    Some(self.hop_count()?)
                }
            } else {
                Some(min)
            };
            self.punct("}")?;
            if max.is_some_and(|max| max < min) {
                return Err(self.error_here("the hop range's maximum is below its minimum"));
            }
            return Ok(Pred::Hops { name, min, max });
        }
        if self.is_punct("|") {
            let mut names = vec![name];
            while self.eat_punct("|") {
                names.push(self.string()?);
            }
            return Ok(Pred::Alternatives(names));
        }
        Ok(Pred::Name(name))
    }

    fn hop_count(&mut self) -> Result<u32> {
        let n = self.uint()?;
        u32::try_from(n).map_err(|_| self.error_here("hop count too large"))
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut parts = vec![self.and_expr()?];
        while self.eat_punct("||") {
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::And(vec![]))
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut parts = vec![self.unary_expr()?];
        while self.eat_punct("&&") {
            parts.push(self.unary_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::And(vec![]))
        } else {
            Expr::And(parts)
        })
    }

    fn unary_expr(&mut self) -> Result<Expr> {
        if self.eat_punct("!") {
            return Ok(Expr::Not(Box::new(self.primary_expr()?)));
        }
        self.primary_expr()
    }

    fn primary_expr(&mut self) -> Result<Expr> {
        if self.eat_punct("(") {
            let inner = self.or_expr()?;
            self.punct(")")?;
            return Ok(inner);
        }
        if let Tok::Word(w) = self.peek() {
            if let Some((func, _, arity)) = Func::ALL.iter().find(|(_, k, _)| k == w) {
                let (func, arity) = (*func, *arity);
                self.bump();
                self.punct("(")?;
                let mut args = vec![self.operand()?];
                while self.eat_punct(",") {
                    args.push(self.operand()?);
                }
                self.punct(")")?;
                if args.len() != arity {
                    return Err(
                        self.error_here(format!("{} takes {arity} argument(s)", func.keyword()))
                    );
                }
                if func == Func::In && !matches!(args[1], Operand::Literal(Value::Array(_))) {
                    return Err(self.error_here("IN takes a list [ … ] as its second argument"));
                }
                return Ok(Expr::Call(func, args));
            }
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Tok::Punct("==") => CmpOp::Eq,
            Tok::Punct("!=") => CmpOp::Ne,
            Tok::Punct("<") => CmpOp::Lt,
            Tok::Punct("<=") => CmpOp::Le,
            Tok::Punct(">") => CmpOp::Gt,
            Tok::Punct(">=") => CmpOp::Ge,
            _ => return Err(self.unexpected("a comparison operator")),
        };
        self.bump();
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand> {
        match self.peek() {
            Tok::Var(_) => Ok(Operand::Path(self.path()?)),
            Tok::Punct("[") => {
                self.bump();
                let mut items = Vec::new();
                while !self.is_punct("]") {
                    items.push(self.scalar()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                self.punct("]")?;
                Ok(Operand::Literal(Value::Array(items)))
            }
            _ => Ok(Operand::Literal(self.scalar()?)),
        }
    }

    fn scalar(&mut self) -> Result<Value> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(Value::String(s))
            }
            Tok::Num(n) => {
                self.bump();
                Ok(Value::Number(n))
            }
            Tok::Word(w) => match w.to_ascii_lowercase().as_str() {
                "true" => {
                    self.bump();
                    Ok(Value::Bool(true))
                }
                "false" => {
                    self.bump();
                    Ok(Value::Bool(false))
                }
                "null" => {
                    self.bump();
                    Ok(Value::Null)
                }
                _ => Err(self.unexpected("a value")),
            },
            _ => Err(self.unexpected("a value")),
        }
    }

    /// JSON with bare identifier keys and trailing commas (spec §2).
    fn json(&mut self) -> Result<Value> {
        match self.peek() {
            Tok::Punct("{") => Ok(Value::Object(self.json_map()?)),
            Tok::Punct("[") => {
                self.bump();
                let mut items = Vec::new();
                while !self.is_punct("]") {
                    items.push(self.json()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                self.punct("]")?;
                Ok(Value::Array(items))
            }
            _ => self.scalar(),
        }
    }

    fn json_map(&mut self) -> Result<Map<String, Value>> {
        self.punct("{")?;
        let mut map = Map::new();
        while !self.is_punct("}") {
            let key = self.map_key()?;
            self.punct(":")?;
            let value = self.json()?;
            map.insert(key, value);
            if !self.eat_punct(",") {
                break;
            }
        }
        self.punct("}")?;
        Ok(map)
    }

    fn map_key(&mut self) -> Result<String> {
        match self.peek().clone() {
            Tok::Word(w) => {
                self.bump();
                Ok(w)
            }
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("a key")),
        }
    }

    // ---------- KML ----------

    fn with_metadata(&mut self) -> Result<Option<Map<String, Value>>> {
        if self.is_word("WITH") && matches!(self.peek_at(1), Tok::Word(w) if w == "METADATA") {
            self.bump();
            self.bump();
            return Ok(Some(self.json_map()?));
        }
        Ok(None)
    }

    fn expect_version(&mut self) -> Result<Option<u64>> {
        if self.eat_word("EXPECT") {
            self.word("VERSION")?;
            return Ok(Some(self.uint()?));
        }
        Ok(None)
    }

    fn set_attributes(&mut self) -> Result<Option<Map<String, Value>>> {
        if self.is_word("SET") && matches!(self.peek_at(1), Tok::Word(w) if w == "ATTRIBUTES") {
            self.bump();
            self.bump();
            return Ok(Some(self.json_map()?));
        }
        Ok(None)
    }

    fn optional_handle(&mut self) -> Result<Option<String>> {
        Ok(if let Tok::Var(_) = self.peek() {
            Some(self.var()?)
        } else {
            None
        })
    }

    fn upsert(&mut self) -> Result<Upsert> {
        self.word("UPSERT")?;
        self.punct("{")?;
        let mut items = Vec::new();
        while !self.is_punct("}") {
            if self.eat_word("CONCEPT") {
                items.push(UpsertItem::Concept(self.concept_block()?));
            } else if self.eat_word("PROPOSITION") {
                items.push(UpsertItem::Proposition(self.proposition_block()?));
            } else {
                return Err(self.unexpected("CONCEPT or PROPOSITION"));
            }
        }
        if items.is_empty() {
            return Err(self.error_here("UPSERT needs at least one CONCEPT or PROPOSITION block"));
        }
        self.punct("}")?;
        let metadata = self.with_metadata()?;
        Ok(Upsert { items, metadata })
    }

    fn concept_block(&mut self) -> Result<ConceptBlock> {
        let handle = self.optional_handle()?;
        self.punct("{")?;
        let at = self.pos;
        let matcher = self.concept_match()?;
        if !(matcher.id.is_some() || (matcher.ty.is_some() && matcher.name.is_some())) {
            return Err(self.error_at(at, "a CONCEPT block matches {type, name} or {id}"));
        }
        let expect_version = self.expect_version()?;
        let attributes = self.set_attributes()?;
        let mut propositions = Vec::new();
        if self.eat_word("SET") {
            self.word("PROPOSITIONS")?;
            self.punct("{")?;
            while !self.is_punct("}") {
                self.punct("(")?;
                let predicate = self.string()?;
                self.punct(",")?;
                let target = self.term()?;
                self.punct(")")?;
                let metadata = self.with_metadata()?;
                propositions.push(SetProposition {
                    predicate,
                    target,
                    metadata,
                });
                self.eat_punct(",");
            }
            self.punct("}")?;
        }
        self.punct("}")?;
        let metadata = self.with_metadata()?;
        Ok(ConceptBlock {
            handle,
            matcher,
            expect_version,
            attributes,
            propositions,
            metadata,
        })
    }

    fn proposition_block(&mut self) -> Result<PropositionBlock> {
        let handle = self.optional_handle()?;
        self.punct("{")?;
        let pattern = self.prop_pattern()?;
        if let PropPattern::Triple { predicate, .. } = &pattern {
            if !matches!(predicate, Pred::Name(_)) {
                return Err(self.error_here("a PROPOSITION block names one predicate as a string"));
            }
        }
        let expect_version = self.expect_version()?;
        let attributes = self.set_attributes()?;
        self.punct("}")?;
        let metadata = self.with_metadata()?;
        Ok(PropositionBlock {
            handle,
            pattern,
            expect_version,
            attributes,
            metadata,
        })
    }

    fn update(&mut self) -> Result<Update> {
        self.word("UPDATE")?;
        let var = self.var()?;
        let mut attributes = None;
        let mut metadata = None;
        while self.is_word("SET") {
            self.bump();
            if self.eat_word("ATTRIBUTES") && attributes.is_none() {
                attributes = Some(self.update_map()?);
            } else if self.eat_word("METADATA") && metadata.is_none() {
                metadata = Some(self.update_map()?);
            } else {
                return Err(self.unexpected("ATTRIBUTES or METADATA (each at most once)"));
            }
        }
        if attributes.is_none() && metadata.is_none() {
            return Err(self.unexpected("SET ATTRIBUTES or SET METADATA"));
        }
        let clauses = self.where_block()?;
        let limit = if self.eat_word("LIMIT") {
            Some(self.uint()?)
        } else {
            None
        };
        Ok(Update {
            var,
            attributes,
            metadata,
            clauses,
            limit,
        })
    }

    fn update_map(&mut self) -> Result<Vec<(String, UpdateValue)>> {
        self.punct("{")?;
        let mut pairs = Vec::new();
        while !self.is_punct("}") {
            let key = self.map_key()?;
            self.punct(":")?;
            let value = if self.update_fn_ahead() {
                UpdateValue::Expr(self.update_expr()?)
            } else {
                UpdateValue::Json(self.json()?)
            };
            pairs.push((key, value));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.punct("}")?;
        Ok(pairs)
    }

    fn update_fn_ahead(&self) -> bool {
        matches!(self.peek(), Tok::Word(w) if ["ADD", "MUL", "COALESCE", "CLAMP"].contains(&w.as_str()))
            && matches!(self.peek_at(1), Tok::Punct("("))
            || matches!(self.peek(), Tok::Var(_))
    }

    fn update_expr(&mut self) -> Result<UpdateExpr> {
        match self.peek().clone() {
            Tok::Var(_) => Ok(UpdateExpr::Path(self.path()?)),
            Tok::Num(n) => {
                self.bump();
                Ok(UpdateExpr::Number(n))
            }
            Tok::Word(w) if ["ADD", "MUL", "COALESCE", "CLAMP"].contains(&w.as_str()) => {
                self.bump();
                self.punct("(")?;
                let a = Box::new(self.update_expr()?);
                self.punct(",")?;
                let b = Box::new(self.update_expr()?);
                let expr = match w.as_str() {
                    "ADD" => UpdateExpr::Add(a, b),
                    "MUL" => UpdateExpr::Mul(a, b),
                    "COALESCE" => UpdateExpr::Coalesce(a, b),
                    _ => {
                        self.punct(",")?;
                        let c = Box::new(self.update_expr()?);
                        UpdateExpr::Clamp(a, b, c)
                    }
                };
                self.punct(")")?;
                Ok(expr)
            }
            _ => Err(self.unexpected("ADD, MUL, COALESCE, CLAMP, a path or a number")),
        }
    }

    fn merge(&mut self) -> Result<Merge> {
        self.word("MERGE")?;
        self.word("CONCEPT")?;
        let source = self.var()?;
        self.word("INTO")?;
        let target = self.var()?;
        let clauses = self.where_block()?;
        Ok(Merge {
            source,
            target,
            clauses,
        })
    }

    fn delete(&mut self) -> Result<Delete> {
        self.word("DELETE")?;
        match self.peek() {
            Tok::Word(w) if w == "ATTRIBUTES" || w == "METADATA" => {
                let attributes = w == "ATTRIBUTES";
                self.bump();
                self.punct("{")?;
                let mut keys = vec![self.string()?];
                while self.eat_punct(",") {
                    keys.push(self.string()?);
                }
                self.punct("}")?;
                self.word("FROM")?;
                let var = self.var()?;
                let clauses = self.where_block()?;
                Ok(if attributes {
                    Delete::Attributes { keys, var, clauses }
                } else {
                    Delete::Metadata { keys, var, clauses }
                })
            }
            Tok::Word(w) if w == "PROPOSITIONS" => {
                self.bump();
                let var = self.var()?;
                let clauses = self.where_block()?;
                Ok(Delete::Propositions { var, clauses })
            }
            Tok::Word(w) if w == "CONCEPT" => {
                self.bump();
                let var = self.var()?;
                if !self.eat_word("DETACH") {
                    return Err(
                        self.unexpected("DETACH (deleting a concept always removes its links)")
                    );
                }
                let clauses = self.where_block()?;
                Ok(Delete::Concept { var, clauses })
            }
            _ => Err(self.unexpected("ATTRIBUTES, METADATA, PROPOSITIONS or CONCEPT")),
        }
    }

    // ---------- META ----------

    fn kind(&mut self) -> Result<Kind> {
        if self.eat_word("CONCEPT") {
            Ok(Kind::Concept)
        } else if self.eat_word("PROPOSITION") {
            Ok(Kind::Proposition)
        } else {
            Err(self.unexpected("CONCEPT or PROPOSITION"))
        }
    }

    fn describe(&mut self) -> Result<Describe> {
        self.word("DESCRIBE")?;
        if self.eat_word("PRIMER") {
            return Ok(Describe::Primer);
        }
        if self.eat_word("DOMAINS") {
            return Ok(Describe::Domains);
        }
        let kind = self.kind()?;
        if self.eat_word("TYPES") {
            let (limit, cursor) = self.limit_cursor()?;
            return Ok(Describe::Types {
                kind,
                limit,
                cursor,
            });
        }
        self.word("TYPE")?;
        Ok(Describe::Type {
            kind,
            name: self.string()?,
        })
    }

    fn search(&mut self) -> Result<Search> {
        self.word("SEARCH")?;
        let kind = self.kind()?;
        let term = self.string()?;
        let mut search = Search {
            kind,
            term,
            with_type: None,
            mode: None,
            threshold: None,
            limit: None,
        };
        if self.eat_word("WITH") {
            self.word("TYPE")?;
            search.with_type = Some(self.string()?);
        }
        if self.eat_word("MODE") {
            let mode = self.string()?;
            if !["keyword", "semantic", "hybrid"].contains(&mode.as_str()) {
                return Err(self.error_here(format!(
                    "MODE is \"keyword\", \"semantic\" or \"hybrid\", not {mode:?}"
                )));
            }
            search.mode = Some(mode);
        }
        if self.eat_word("THRESHOLD") {
            let threshold = match self.bump() {
                Tok::Num(n) => n.as_f64().unwrap_or(-1.0),
                _ => -1.0,
            };
            if !(0.0..=1.0).contains(&threshold) {
                self.pos -= 1;
                return Err(self.error_here("THRESHOLD is a number between 0 and 1"));
            }
            search.threshold = Some(threshold);
        }
        if self.eat_word("LIMIT") {
            search.limit = Some(self.uint()?);
        }
        Ok(search)
    }

    fn export(&mut self) -> Result<Export> {
        self.word("EXPORT")?;
        let var = self.var()?;
        let clauses = self.where_block()?;
        let (limit, cursor) = self.limit_cursor()?;
        Ok(Export {
            var,
            clauses,
            limit,
            cursor,
        })
    }
}
