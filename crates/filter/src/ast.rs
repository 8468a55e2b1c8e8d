//! The typed filter tree both spellings parse to.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    /// Substring of a text, or element of a multi-value field.
    Contains,
    /// Case-insensitive substring (ASCII case folding).
    IContains,
    StartsWith,
    EndsWith,
    /// `value: true` for "is null", `false` for "is not null".
    IsNull,
    /// `value: [low, high]`, both ends included.
    Between,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::Eq,
        Op::Neq,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::Nin,
        Op::Contains,
        Op::IContains,
        Op::StartsWith,
        Op::EndsWith,
        Op::IsNull,
        Op::Between,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::Nin => "nin",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startsWith",
            Op::EndsWith => "endsWith",
            Op::IsNull => "isNull",
            Op::Between => "between",
        }
    }

    pub fn from_name(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `field` is a path: `["customer", "country"]` follows a relationship.
    Cmp {
        field: Vec<String>,
        op: Op,
        value: Value,
    },
}
