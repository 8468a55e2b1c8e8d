//! Workspace credentials: named secrets an agent reaches other services with — a model
//! provider (OpenAI-compatible or Anthropic) or a remote MCP server (Streamable HTTP).
//! The secret is sealed by the server's vault and never returned after creation; a
//! credential shows a short hint of it (`…f00d`) so people can tell keys apart.

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::{params, record_event, Database, Row, Sql, Value as SqlValue};
use andibase_vault::Vault;
use serde::{Deserialize, Serialize};

/// What a credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A model provider: `format` (`openai` or `anthropic`), base `url`, `secret` = API key.
    ModelProvider,
    /// A remote MCP server: its Streamable HTTP `url`, `secret` = bearer token.
    McpServer,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ModelProvider => "model_provider",
            CredentialKind::McpServer => "mcp_server",
        }
    }

    fn parse(s: &str) -> Option<CredentialKind> {
        match s {
            "model_provider" => Some(CredentialKind::ModelProvider),
            "mcp_server" => Some(CredentialKind::McpServer),
            _ => None,
        }
    }
}

/// A credential as it is shown: never its secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: String,
    pub name: String,
    pub kind: CredentialKind,
    /// A model provider's wire format: `openai` or `anthropic`.
    pub format: Option<String>,
    /// A model provider's base URL, or an MCP server's endpoint.
    pub url: Option<String>,
    /// The secret's last four characters (`…f00d`), empty when there is none.
    pub secret_hint: String,
    pub created_at: Timestamp,
    pub created_by: Option<String>,
}

/// `POST …/credentials`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCredential {
    /// 1 to 64 characters of a-z, 0-9, `_` and `-`; unique in the workspace. A model
    /// provider credential's name is the provider in agents' model strings (`name/model`).
    pub name: String,
    pub kind: CredentialKind,
    /// Model providers: `openai` (default; any OpenAI-compatible server) or `anthropic`.
    #[serde(default)]
    pub format: Option<String>,
    /// Model providers: the base URL (default the format's public API). MCP servers: the
    /// Streamable HTTP endpoint (required).
    #[serde(default)]
    pub url: Option<String>,
    /// The API key or bearer token; stored sealed and never shown again.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A credential with its secret opened, for the server's own use.
#[derive(Clone)]
pub struct Opened {
    pub credential: Credential,
    pub secret: String,
}

/// Never print the secret.
impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, name, kind, format, url, secret_hint, created_at, created_by";

fn from_row(r: &Row) -> DomainResult<Credential> {
    Ok(Credential {
        id: r.text(0)?,
        name: r.text(1)?,
        kind: CredentialKind::parse(&r.text(2)?)
            .ok_or_else(|| DomainError::Internal("unknown credential kind".into()))?,
        format: r.opt_text(3)?,
        url: r.opt_text(4)?,
        secret_hint: r.text(5)?,
        created_at: r.time(6)?,
        created_by: r.opt_text(7)?,
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The workspace's credentials.
pub struct Credentials<'a> {
    pub db: &'a Database,
    pub vault: &'a Vault,
}

impl Credentials<'_> {
    pub async fn list(&self) -> DomainResult<Vec<Credential>> {
        self.db
            .read(|r| {
                r.query(
                    &format!("SELECT {COLUMNS} FROM credentials ORDER BY name"),
                    &[],
                )?
                .iter()
                .map(from_row)
                .collect()
            })
            .await
    }

    pub async fn get(&self, id: &str) -> DomainResult<Credential> {
        let id = id.to_string();
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {COLUMNS} FROM credentials WHERE id = ?"),
                    &params![id],
                )?
                .as_ref()
                .map(from_row)
                .transpose()?
                .ok_or(DomainError::NotFound)
            })
            .await
    }

    /// Credentials by id with their secrets, for an agent's run; ids that do not exist
    /// (deleted since they were linked) are left out.
    pub async fn open(&self, ids: &[String]) -> DomainResult<Vec<Opened>> {
        let ids = ids.to_vec();
        let rows = self
            .db
            .read(move |r| {
                let mut out = Vec::new();
                for id in ids {
                    if let Some(row) = r.query_one(
                        &format!("SELECT {COLUMNS}, secret FROM credentials WHERE id = ?"),
                        &params![id],
                    )? {
                        let sealed = match row.value(8) {
                            SqlValue::Blob(b) => Some(b.clone()),
                            _ => None,
                        };
                        out.push((from_row(&row)?, sealed));
                    }
                }
                Ok(out)
            })
            .await?;
        rows.into_iter()
            .map(|(credential, sealed)| {
                let secret = match sealed {
                    Some(s) => self.vault.open_sealed(&s)?,
                    None => String::new(),
                };
                Ok(Opened { credential, secret })
            })
            .collect()
    }

    pub async fn create(
        &self,
        input: CreateCredential,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<Credential> {
        let mut issues = Vec::new();
        let name = input.name.trim().to_string();
        if !valid_name(&name) {
            issues.push(FieldIssue::new(
                "name",
                "must be 1 to 64 characters of a-z, 0-9, _ and -",
            ));
        }
        let secret = input.secret.unwrap_or_default().trim().to_string();
        if secret.chars().count() > 8000 {
            issues.push(FieldIssue::new("secret", "must be at most 8000 characters"));
        }
        let url = input
            .url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        let format = match input.kind {
            CredentialKind::ModelProvider => {
                let f = input.format.unwrap_or_else(|| "openai".into());
                if f != "openai" && f != "anthropic" {
                    issues.push(FieldIssue::new("format", "must be openai or anthropic"));
                }
                Some(f)
            }
            CredentialKind::McpServer => {
                if input.format.is_some() {
                    issues.push(FieldIssue::new(
                        "format",
                        "is only for model_provider credentials",
                    ));
                }
                if url.is_none() {
                    issues.push(FieldIssue::new(
                        "url",
                        "an MCP server credential needs the server's Streamable HTTP URL",
                    ));
                }
                None
            }
        };
        if let Some(u) = &url {
            if let Err(why) = andibase_outbound::check_url_shape(u) {
                issues.push(FieldIssue::new("url", why));
            }
        }
        if !issues.is_empty() {
            return Err(DomainError::from_issues(issues));
        }
        let url = url.or_else(|| match format.as_deref() {
            Some("anthropic") => Some("https://api.anthropic.com".into()),
            Some(_) => Some("https://api.openai.com/v1".into()),
            None => None,
        });
        let hint = andibase_vault::hint(&secret);
        let credential = Credential {
            id: id::prefixed("wcred"),
            name,
            kind: input.kind,
            format,
            url,
            secret_hint: hint,
            created_at: now,
            created_by: actor.map(str::to_string),
        };
        let sealed = (!secret.is_empty()).then(|| self.vault.seal(&secret));
        let c = credential.clone();
        self.db
            .write(move |tx| {
                let taken = tx
                    .query_one("SELECT 1 FROM credentials WHERE name = ?", &params![c.name.clone()])?
                    .is_some();
                if taken {
                    return Err(DomainError::Conflict {
                        message: format!("a credential named `{}` exists", c.name),
                        column: Some("name".into()),
                    });
                }
                tx.execute(
                    &format!("INSERT INTO credentials ({COLUMNS}, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &params![
                        c.id.clone(), c.name.clone(), c.kind.as_str(), c.format.clone(), c.url.clone(),
                        c.secret_hint.clone(), now, c.created_by.clone(),
                        sealed.map_or(SqlValue::Null, SqlValue::Blob)
                    ],
                )?;
                record_event(tx, "credential.created", &c.id, c.created_by.as_deref(), &serde_json::json!({"name": c.name, "kind": c.kind.as_str()}), now)
            })
            .await?;
        Ok(credential)
    }

    pub async fn delete(&self, id: &str, actor: Option<&str>, now: Timestamp) -> DomainResult<()> {
        let (id, actor) = (id.to_string(), actor.map(str::to_string));
        self.db
            .write(move |tx| {
                if tx.execute("DELETE FROM credentials WHERE id = ?", &params![id.clone()])? == 0 {
                    return Err(DomainError::NotFound);
                }
                record_event(
                    tx,
                    "credential.deleted",
                    &id,
                    actor.as_deref(),
                    &serde_json::json!({}),
                    now,
                )
            })
            .await
    }
}
