//! KIP error codes (spec §8) with their fixed, agent-facing hints, generated from one table.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidSyntax,
    InvalidIdentifier,
    TypeMismatch,
    ConstraintViolation,
    InvalidValueType,
    ReferenceError,
    NotFound,
    DuplicateExists,
    ImmutableTarget,
    VersionConflict,
    ExecutionTimeout,
    ResourceExhausted,
    InternalError,
}

/// (code, wire string, hint) — the single source of the hints.
const TABLE: &[(ErrorCode, &str, &str)] = &[
    (ErrorCode::InvalidSyntax, "KIP_1001", "Check the command against the KIP grammar: keywords are UPPERCASE, every clause needs its braces, dot paths have at most two parts."),
    (ErrorCode::InvalidIdentifier, "KIP_1002", "Identifiers match [a-zA-Z_][a-zA-Z0-9_]*; put anything else inside a string."),
    (ErrorCode::TypeMismatch, "KIP_2001", "The concept type or predicate is not registered. Run DESCRIBE CONCEPT TYPES / PROPOSITION TYPES; names are case-sensitive. Register new types with a $ConceptType / $PropositionType node first."),
    (ErrorCode::ConstraintViolation, "KIP_2002", "A constraint was violated. Keys starting with `_` are engine-owned and read-only; MERGE needs two nodes of the same type."),
    (ErrorCode::InvalidValueType, "KIP_2003", "The value's JSON type does not match the type's instance_schema. DESCRIBE the type and send the expected type."),
    (ErrorCode::ReferenceError, "KIP_3001", "A variable or handle is used before a clause binds it. Define handles before use and bind every variable you project."),
    (ErrorCode::NotFound, "KIP_3002", "The named target does not exist. SEARCH or FIND it first, or create it with UPSERT; names are case-sensitive."),
    (ErrorCode::DuplicateExists, "KIP_3003", "The pattern matched more than one node where exactly one is needed. Narrow it with {type, name} or {id}."),
    (ErrorCode::ImmutableTarget, "KIP_3004", "The target is in the protected scope (meta-types, CoreSchema, belongs_to_domain, the identity of $self / $system). Leave it unchanged."),
    (ErrorCode::VersionConflict, "KIP_3005", "The element changed since you read it. Re-read it, re-apply your change to the current value and retry with the new EXPECT VERSION."),
    (ErrorCode::ExecutionTimeout, "KIP_4001", "The command ran out of time. Narrow the pattern, add LIMIT, or split the work into smaller commands."),
    (ErrorCode::ResourceExhausted, "KIP_4002", "A size or scan limit was exceeded. Use a smaller command, fewer hops (at most 10), or anchor the pattern on a known node."),
    (ErrorCode::InternalError, "KIP_4003", "The engine failed internally. Retry later; if it persists, report it."),
];

impl ErrorCode {
    fn row(self) -> &'static (ErrorCode, &'static str, &'static str) {
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .expect("every code is in the table")
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn hint(self) -> &'static str {
        self.row().2
    }

    pub fn parse(code: &str) -> Option<Self> {
        TABLE.iter().find(|row| row.1 == code).map(|row| row.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the command text an error was found (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Position {
    pub fn locate(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Position {
            offset,
            line,
            column,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KipError {
    pub code: ErrorCode,
    pub message: String,
    pub position: Option<Position>,
    /// A hint for this case, in place of the code's fixed one.
    pub hint: Option<String>,
}

impl KipError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KipError {
            code,
            message: message.into(),
            position: None,
            hint: None,
        }
    }

    /// This error with a hint of its own (what happened here, not what the code means).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidSyntax, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn reference(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ReferenceError, message)
    }

    pub fn constraint(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ConstraintViolation, message)
    }

    pub fn immutable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ImmutableTarget, message)
    }

    pub fn exhausted(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceExhausted, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }

    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// The wire shape `{code, message, hint, data?}` of the envelope (spec §7).
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
            "hint": self.hint.as_deref().unwrap_or(self.code.hint()),
        });
        if let Some(p) = self.position {
            error["data"] =
                serde_json::json!({"line": p.line, "column": p.column, "offset": p.offset});
        }
        error
    }
}

impl fmt::Display for KipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(p) = self.position {
            write!(f, " (line {}, column {})", p.line, p.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for KipError {}

pub type Result<T, E = KipError> = std::result::Result<T, E>;
