//! The error every domain crate returns. Each HTTP surface maps it explicitly to its own
//! wire format; nothing here knows about status codes.

use std::fmt;

/// One problem with one input field, named by its path (`["capabilities", "webAccess"]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldIssue {
    pub path: Vec<serde_json::Value>,
    pub message: String,
}

impl FieldIssue {
    /// An issue at `path`: object keys and list indices, outermost first
    /// (`["records", 3, "attributes", "email"]`). Every crate names fields this way.
    pub fn at<P: Into<serde_json::Value>>(
        path: impl IntoIterator<Item = P>,
        message: impl Into<String>,
    ) -> FieldIssue {
        FieldIssue {
            path: path.into_iter().map(Into::into).collect(),
            message: message.into(),
        }
    }

    /// `Ok` when nothing was found, else the one validation error naming every issue.
    pub fn none_of(issues: Vec<FieldIssue>) -> DomainResult<()> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(DomainError::from_issues(issues))
        }
    }

    /// An issue at a dotted path (`capabilities.webAccess`).
    pub fn new(field: &str, message: impl Into<String>) -> FieldIssue {
        FieldIssue {
            path: field
                .split('.')
                .map(|p| serde_json::Value::String(p.to_string()))
                .collect(),
            message: message.into(),
        }
    }
}

/// A state machine's refusal of a step, as its domain names it: an enum of the domain's
/// own (`LoginRefusal`, `ApprovalRefusal`). Each surface maps them explicitly by
/// downcasting to the domain's type ([`Refusal::as_any`]), never by their text.
pub trait Refusal: std::fmt::Debug + Send + Sync + 'static {
    /// The code the product's documents give it (seed 000's `slow_down`, …), which a
    /// surface uses unless it maps the refusal otherwise.
    fn code(&self) -> &'static str;
    fn as_any(&self) -> &dyn std::any::Any;
}

#[derive(Debug)]
pub enum DomainError {
    /// The input is well-formed JSON of the right shape but breaks a rule.
    Invalid {
        message: String,
        issues: Vec<FieldIssue>,
    },
    /// The thing does not exist, or exists where the caller may not see it.
    NotFound,
    /// A unique name or handle is taken. `column` is the column whose unique rule the
    /// write broke, when storage knows it (the columns joined by commas for a rule over
    /// several).
    Conflict {
        message: String,
        column: Option<String>,
    },
    /// The caller is known but lacks the named permission (`resource.action`).
    Forbidden { permission: String, message: String },
    /// Credentials were wrong (bad password, unusable token).
    Unauthorized { message: String },
    /// A state machine refuses the step (agent login, deciding a closed approval).
    Refused {
        refusal: Box<dyn Refusal>,
        message: String,
    },
    /// Too many attempts; retry after the given seconds.
    RateLimited { retry_after_secs: u64 },
    /// Storage or another internal failure. The text goes to the log, not the client.
    Internal(String),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn invalid(field: &str, message: impl Into<String>) -> DomainError {
        let message = message.into();
        DomainError::Invalid {
            issues: vec![FieldIssue::new(field, message.clone())],
            message,
        }
    }

    /// A validation failure naming every broken field; the message lists them all.
    pub fn from_issues(issues: Vec<FieldIssue>) -> DomainError {
        let message = issues
            .iter()
            .map(|i| {
                let path: Vec<String> = i
                    .path
                    .iter()
                    .map(|p| {
                        p.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect();
                format!("{}: {}", path.join("."), i.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        DomainError::Invalid { message, issues }
    }

    pub fn conflict(message: impl Into<String>) -> DomainError {
        DomainError::Conflict {
            message: message.into(),
            column: None,
        }
    }

    pub fn forbidden(permission: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError::Forbidden {
            permission: permission.into(),
            message: message.into(),
        }
    }

    pub fn refused(refusal: impl Refusal, message: impl Into<String>) -> DomainError {
        DomainError::Refused {
            refusal: Box::new(refusal),
            message: message.into(),
        }
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Invalid { message, .. } => write!(f, "invalid: {message}"),
            DomainError::NotFound => write!(f, "not found"),
            DomainError::Conflict { message, .. } => write!(f, "conflict: {message}"),
            DomainError::Forbidden { permission, .. } => write!(f, "forbidden: needs {permission}"),
            DomainError::Unauthorized { message } => write!(f, "unauthorized: {message}"),
            DomainError::Refused { refusal, message } => write!(f, "{}: {message}", refusal.code()),
            DomainError::RateLimited { retry_after_secs } => {
                write!(f, "rate limited, retry after {retry_after_secs}s")
            }
            DomainError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for DomainError {}
