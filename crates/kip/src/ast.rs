//! The typed syntax tree of KIP 1.x commands. The parser builds it, `print` turns it back
//! into canonical text, and the executor walks it. A KIP 2.0 dialect would get its own
//! tree beside this one.

use serde_json::{Map, Value};

pub type Json = Value;
pub type JsonMap = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Find(Find),
    /// Several UPSERT statements in one text form a capsule, applied in order.
    Upsert(Vec<Upsert>),
    Update(Update),
    Merge(Merge),
    Delete(Delete),
    Describe(Describe),
    Search(Search),
    Export(Export),
}

impl Command {
    /// KML changes the graph; KQL and META only read it.
    pub fn is_kml(&self) -> bool {
        matches!(
            self,
            Command::Upsert(_) | Command::Update(_) | Command::Merge(_) | Command::Delete(_)
        )
    }
}

// ---------- KQL ----------

#[derive(Debug, Clone, PartialEq)]
pub struct Find {
    pub items: Vec<FindItem>,
    pub clauses: Vec<Clause>,
    pub order: Vec<OrderItem>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FindItem {
    Path(Path),
    Aggregate(Aggregate),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: AggFunc,
    pub distinct: bool,
    pub path: Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggFunc {
    pub const ALL: [(AggFunc, &'static str); 5] = [
        (AggFunc::Count, "COUNT"),
        (AggFunc::Sum, "SUM"),
        (AggFunc::Avg, "AVG"),
        (AggFunc::Min, "MIN"),
        (AggFunc::Max, "MAX"),
    ];

    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, k)| *k)
            .unwrap_or("COUNT")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub key: FindItem,
    pub descending: bool,
}

/// `?var` or `?var.field` or `?var.attributes.key` / `?var.metadata.key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub var: String,
    pub field: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Whole,
    Id,
    Type,
    Name,
    Subject,
    Predicate,
    Object,
    Attributes,
    Metadata,
    Attribute(String),
    Meta(String),
}

impl Field {
    pub const SIMPLE: [(Field, &'static str); 8] = [
        (Field::Id, "id"),
        (Field::Type, "type"),
        (Field::Name, "name"),
        (Field::Subject, "subject"),
        (Field::Predicate, "predicate"),
        (Field::Object, "object"),
        (Field::Attributes, "attributes"),
        (Field::Metadata, "metadata"),
    ];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    Concept {
        var: String,
        matcher: ConceptMatch,
    },
    Proposition {
        var: Option<String>,
        pattern: PropPattern,
    },
    Filter(Expr),
    Optional(Vec<Clause>),
    Not(Vec<Clause>),
    Union(Vec<Clause>),
}

/// `{id}` | `{type}` | `{name}` | `{type, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConceptMatch {
    pub id: Option<String>,
    pub ty: Option<String>,
    pub name: Option<String>,
}

impl ConceptMatch {
    /// `{id}` and `{type, name}` name exactly one node, so a miss is KIP_3002.
    pub fn is_unique(&self) -> bool {
        self.id.is_some() || (self.ty.is_some() && self.name.is_some())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PropPattern {
    Id(String),
    Triple {
        subject: Term,
        predicate: Pred,
        object: Term,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Var(String),
    Concept(ConceptMatch),
    Proposition(Box<PropPattern>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    Var(String),
    Name(String),
    /// `"p"{min,max}`; `max: None` is `{min,}`.
    Hops {
        name: String,
        min: u32,
        max: Option<u32>,
    },
    Alternatives(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CmpOp, Operand),
    Call(Func, Vec<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    In,
    IsNull,
    IsNotNull,
}

impl Func {
    pub const ALL: [(Func, &'static str, usize); 7] = [
        (Func::Contains, "CONTAINS", 2),
        (Func::StartsWith, "STARTS_WITH", 2),
        (Func::EndsWith, "ENDS_WITH", 2),
        (Func::Regex, "REGEX", 2),
        (Func::In, "IN", 2),
        (Func::IsNull, "IS_NULL", 1),
        (Func::IsNotNull, "IS_NOT_NULL", 1),
    ];

    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, ..)| *f == self)
            .map(|(_, k, _)| *k)
            .unwrap_or("IN")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(Path),
    Literal(Json),
}

// ---------- KML ----------

#[derive(Debug, Clone, PartialEq)]
pub struct Upsert {
    pub items: Vec<UpsertItem>,
    pub metadata: Option<JsonMap>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpsertItem {
    Concept(ConceptBlock),
    Proposition(PropositionBlock),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConceptBlock {
    pub handle: Option<String>,
    pub matcher: ConceptMatch,
    pub expect_version: Option<u64>,
    pub attributes: Option<JsonMap>,
    pub propositions: Vec<SetProposition>,
    pub metadata: Option<JsonMap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SetProposition {
    pub predicate: String,
    pub target: Term,
    pub metadata: Option<JsonMap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PropositionBlock {
    pub handle: Option<String>,
    pub pattern: PropPattern,
    pub expect_version: Option<u64>,
    pub attributes: Option<JsonMap>,
    pub metadata: Option<JsonMap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub var: String,
    pub attributes: Option<Vec<(String, UpdateValue)>>,
    pub metadata: Option<Vec<(String, UpdateValue)>>,
    pub clauses: Vec<Clause>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateValue {
    Json(Json),
    Expr(UpdateExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateExpr {
    Add(Box<UpdateExpr>, Box<UpdateExpr>),
    Mul(Box<UpdateExpr>, Box<UpdateExpr>),
    Coalesce(Box<UpdateExpr>, Box<UpdateExpr>),
    Clamp(Box<UpdateExpr>, Box<UpdateExpr>, Box<UpdateExpr>),
    Path(Path),
    Number(serde_json::Number),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub source: String,
    pub target: String,
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Delete {
    Attributes {
        keys: Vec<String>,
        var: String,
        clauses: Vec<Clause>,
    },
    Metadata {
        keys: Vec<String>,
        var: String,
        clauses: Vec<Clause>,
    },
    Propositions {
        var: String,
        clauses: Vec<Clause>,
    },
    Concept {
        var: String,
        clauses: Vec<Clause>,
    },
}

// ---------- META ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Concept,
    Proposition,
}

impl Kind {
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Concept => "CONCEPT",
            Kind::Proposition => "PROPOSITION",
        }
    }

    pub fn meta_type(self) -> &'static str {
        match self {
            Kind::Concept => crate::CONCEPT_TYPE,
            Kind::Proposition => crate::PROPOSITION_TYPE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Describe {
    Primer,
    Domains,
    Types {
        kind: Kind,
        limit: Option<u64>,
        cursor: Option<String>,
    },
    Type {
        kind: Kind,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub kind: Kind,
    pub term: String,
    pub with_type: Option<String>,
    pub mode: Option<String>,
    pub threshold: Option<f64>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub var: String,
    pub clauses: Vec<Clause>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}
