//! The agent device-code login of seed 000: an agent starts a request, a human
//! approves it for one workspace, and the agent's exchange returns a key once.

use andibase_common::{id, DomainError, DomainResult, Timestamp};
use andibase_storage::{params, Row, Sql};
use serde::{Deserialize, Serialize};

use crate::api_keys::{insert_key, validate_key_name, CreatedApiKey, NewKey};
use crate::permissions::{Access, KeyRole, MemberRole, Permissions, Resource};
use crate::secrets::sha256_hex;
use crate::users::User;
use crate::workspaces::{workspace_from_row, Workspace, WORKSPACE_COLUMNS};
use crate::Identity;

pub const POLL_INTERVAL_SECS: i64 = 5;
/// Letters that cannot be mistaken for digits or each other.
const USER_CODE_LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartAgentLogin {
    pub agent_name: String,
    #[serde(default)]
    pub agent_description: Option<String>,
    /// Defaults to `admin`.
    #[serde(default)]
    pub role: Option<KeyRole>,
    /// Extra permissions `{resource: [actions]}`, added to the role's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<Permissions>,
}

/// What `POST /agent/auth/requests` returns, minus the URLs the server fills in.
#[derive(Clone, Debug)]
pub struct AgentLoginStart {
    pub device_code: String,
    pub user_code: String,
    pub expires_at: Timestamp,
    pub interval_seconds: i64,
}

/// Where a login request stands. Stored as its name; `expired` is never stored, it is
/// what a pending or approved request past its time reads as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoginStatus {
    Pending,
    Approved,
    Denied,
    /// Exchanged for a key.
    Consumed,
    Expired,
}

impl LoginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginStatus::Pending => "pending",
            LoginStatus::Approved => "approved",
            LoginStatus::Denied => "denied",
            LoginStatus::Consumed => "consumed",
            LoginStatus::Expired => "expired",
        }
    }

    fn parse(s: &str) -> DomainResult<LoginStatus> {
        [
            LoginStatus::Pending,
            LoginStatus::Approved,
            LoginStatus::Denied,
            LoginStatus::Consumed,
            LoginStatus::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| DomainError::Internal(format!("unknown login status {s}")))
    }
}

impl std::fmt::Display for LoginStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a step of the device-code login is refused (seed 000's codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The human has not decided yet.
    AuthorizationPending,
    /// Polled sooner than the interval allows.
    SlowDown,
    /// The human denied the request.
    AccessDenied,
    ExpiredToken,
    /// The device code is unknown, used, or its workspace is gone.
    InvalidGrant,
    /// Approving or denying a request that is no longer pending.
    NotPending,
}

impl andibase_common::Refusal for LoginRefusal {
    fn code(&self) -> &'static str {
        match self {
            LoginRefusal::AuthorizationPending => "authorization_pending",
            LoginRefusal::SlowDown => "slow_down",
            LoginRefusal::AccessDenied => "access_denied",
            LoginRefusal::ExpiredToken => "expired_token",
            LoginRefusal::InvalidGrant => "invalid_grant",
            LoginRefusal::NotPending => "invalid_request",
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The public view of a login request, read by the approval page.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentLoginRequestView {
    pub user_code: String,
    pub agent_name: String,
    pub agent_description: Option<String>,
    pub role: KeyRole,
    #[schema(value_type = Object)]
    pub permissions: Permissions,
    pub status: LoginStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A successful exchange: the workspace and the new key, secret included.
#[derive(Clone, Debug)]
pub struct ExchangeSuccess {
    pub workspace: Workspace,
    pub api_key: CreatedApiKey,
}

fn new_user_code() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let letters: String = (0..4)
        .map(|_| USER_CODE_LETTERS[rng.gen_range(0..USER_CODE_LETTERS.len())] as char)
        .collect();
    format!("{letters}-{:04}", rng.gen_range(0..10_000))
}

/// `abcd1234`, `ABCD 1234` and `abcd-1234` all mean `ABCD-1234`.
pub fn normalize_user_code(code: &str) -> String {
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if clean.len() == 8 {
        format!("{}-{}", &clean[..4], &clean[4..])
    } else {
        clean
    }
}

const VIEW_COLUMNS: &str =
    "user_code, agent_name, agent_description, role, permissions, status, created_at, expires_at";

fn view_from_row(r: &Row, now: Timestamp) -> DomainResult<AgentLoginRequestView> {
    let expires_at = r.time(7)?;
    let mut status = LoginStatus::parse(&r.text(5)?)?;
    if matches!(status, LoginStatus::Pending | LoginStatus::Approved) && expires_at <= now {
        status = LoginStatus::Expired;
    }
    Ok(AgentLoginRequestView {
        user_code: r.text(0)?,
        agent_name: r.text(1)?,
        agent_description: r.opt_text(2)?,
        role: KeyRole::parse(&r.text(3)?)
            .ok_or_else(|| DomainError::Internal("bad role".into()))?,
        permissions: serde_json::from_value(r.json(4)?)
            .map_err(|e| DomainError::Internal(e.to_string()))?,
        status,
        created_at: r.time(6)?,
        expires_at,
    })
}

impl Identity {
    pub async fn start_agent_login(&self, input: StartAgentLogin) -> DomainResult<AgentLoginStart> {
        let agent_name = input.agent_name.trim().to_string();
        if agent_name.is_empty() || agent_name.chars().count() > 100 {
            return Err(DomainError::invalid(
                "agentName",
                "must be 1 to 100 characters",
            ));
        }
        let description = input
            .agent_description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 2000)
        {
            return Err(DomainError::invalid(
                "agentDescription",
                "must be at most 2000 characters",
            ));
        }
        let permissions = input.permissions.unwrap_or_default();
        Access::from_permissions(&permissions)?;
        let role = input.role.unwrap_or(KeyRole::Admin);
        let now = self.clock.now();
        let device_code = format!("dc_{}", id::random_base62(43));
        let start = AgentLoginStart {
            device_code: device_code.clone(),
            user_code: new_user_code(),
            expires_at: now.plus_seconds(self.agent_login_ttl_secs),
            interval_seconds: POLL_INTERVAL_SECS,
        };
        let perms = serde_json::to_string(&permissions)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let s = start.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO agent_login_requests (id, device_code_hash, user_code, agent_name, agent_description, role, permissions, status, interval_seconds, created_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                    &params![id::uuid7(), sha256_hex(&s.device_code), &s.user_code, agent_name, description, role.as_str(), perms, s.interval_seconds, now, s.expires_at],
                )
            })
            .await?;
        Ok(start)
    }

    pub async fn agent_login_request(
        &self,
        user_code: &str,
    ) -> DomainResult<AgentLoginRequestView> {
        let (code, now) = (normalize_user_code(user_code), self.clock.now());
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {VIEW_COLUMNS} FROM agent_login_requests WHERE user_code = ?"),
                    &params![code],
                )?
                .map(|row| view_from_row(&row, now))
                .transpose()?
                .ok_or(DomainError::NotFound)
            })
            .await
    }

    /// A member approves the request for one of their workspaces. The key's role is
    /// `role` when given (it may only narrow the requested one) and never more than the
    /// approver could hand out.
    pub async fn approve_agent_login(
        &self,
        user_code: &str,
        approver: &User,
        workspace: &Workspace,
        approver_role: MemberRole,
        role: Option<KeyRole>,
    ) -> DomainResult<AgentLoginRequestView> {
        let view = self.agent_login_request(user_code).await?;
        if view.status != LoginStatus::Pending {
            return Err(DomainError::refused(
                LoginRefusal::NotPending,
                format!("This login request is {}.", view.status),
            ));
        }
        let granted = role.unwrap_or(view.role);
        if granted > view.role {
            return Err(DomainError::invalid(
                "role",
                "the approval may narrow the requested role, not widen it",
            ));
        }
        if granted > approver_role.acting_role() {
            return Err(DomainError::forbidden(
                Resource::ApiKeys.write().to_string(),
                format!(
                    "Your role in this workspace ({}) cannot approve a key with role {}. Choose a narrower role.",
                    approver_role.as_str(),
                    granted.as_str()
                ),
            ));
        }
        let extra = Access::from_permissions(&view.permissions)?;
        if extra.union(Access::of_role(approver_role.acting_role()))
            != Access::of_role(approver_role.acting_role())
        {
            return Err(DomainError::forbidden(
                Resource::ApiKeys.write().to_string(),
                "The requested explicit permissions exceed your own access in this workspace.",
            ));
        }
        let (code, ws, uid, now) = (
            view.user_code.clone(),
            workspace.id.clone(),
            approver.id.clone(),
            self.clock.now(),
        );
        let changed = self
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE agent_login_requests SET status = 'approved', workspace_id = ?, decided_by = ?, role = ? \
                     WHERE user_code = ? AND status = 'pending' AND expires_at > ?",
                    &params![ws, uid, granted.as_str(), code, now],
                )
            })
            .await?;
        if changed != 1 {
            return Err(DomainError::refused(
                LoginRefusal::NotPending,
                "This login request is no longer pending.",
            ));
        }
        self.agent_login_request(user_code).await
    }

    pub async fn deny_agent_login(
        &self,
        user_code: &str,
        approver: &User,
    ) -> DomainResult<AgentLoginRequestView> {
        let (code, uid, now) = (
            normalize_user_code(user_code),
            approver.id.clone(),
            self.clock.now(),
        );
        let changed = self
            .db
            .write(move |tx| {
                if tx.query_one("SELECT 1 FROM agent_login_requests WHERE user_code = ?", &params![&code])?.is_none() {
                    return Err(DomainError::NotFound);
                }
                tx.execute(
                    "UPDATE agent_login_requests SET status = 'denied', decided_by = ? WHERE user_code = ? AND status = 'pending' AND expires_at > ?",
                    &params![uid, code, now],
                )
            })
            .await?;
        let view = self.agent_login_request(user_code).await?;
        if changed != 1 {
            return Err(DomainError::refused(
                LoginRefusal::NotPending,
                format!("This login request is {}.", view.status),
            ));
        }
        Ok(view)
    }

    /// The agent's poll. Errors carry the RFC 8628 codes seed 000 lists.
    pub async fn exchange_agent_login(&self, device_code: &str) -> DomainResult<ExchangeSuccess> {
        let (hash, now) = (sha256_hex(device_code), self.clock.now());
        self.db
            .write(move |tx| {
                let row = tx
                    .query_one(
                        "SELECT id, status, expires_at, last_poll_at, interval_seconds, workspace_id, decided_by, agent_name, role, permissions \
                             FROM agent_login_requests WHERE device_code_hash = ?",
                        &params![&hash],
                    )?
                    .ok_or_else(|| DomainError::refused(LoginRefusal::InvalidGrant, "The device code is invalid, already used, or no longer usable. Start a new login."))?;
                let (req_id, status) = (row.text(0)?, LoginStatus::parse(&row.text(1)?)?);
                if status == LoginStatus::Consumed {
                    return Err(DomainError::refused(LoginRefusal::InvalidGrant, "This device code was already exchanged. Start a new login."));
                }
                if row.time(2)? <= now {
                    return Err(DomainError::refused(LoginRefusal::ExpiredToken, "The login request expired. Start a new login."));
                }
                if status == LoginStatus::Denied {
                    return Err(DomainError::refused(LoginRefusal::AccessDenied, "The human denied this login request."));
                }
                if status == LoginStatus::Pending {
                    let interval = row.int(4)?;
                    let too_soon = row.opt_time(3)?.is_some_and(|last| now.0 - last.0 < interval * 1000);
                    tx.execute("UPDATE agent_login_requests SET last_poll_at = ? WHERE id = ?", &params![now, &req_id])?;
                    // The poll time must be committed, so the refusal is the inner result.
                    return Ok(Err(if too_soon {
                        DomainError::refused(LoginRefusal::SlowDown, format!("Poll less frequently and retry in about {interval} seconds."))
                    } else {
                        DomainError::refused(LoginRefusal::AuthorizationPending, "The customer has not approved this login request yet.")
                    }));
                }
                let ws_id = row.text(5)?;
                let workspace = tx
                    .query_one(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = ? AND deleted_at IS NULL"), &params![&ws_id])?
                    .map(|r| workspace_from_row(&r))
                    .transpose()?
                    .ok_or_else(|| DomainError::refused(LoginRefusal::InvalidGrant, "The approved workspace no longer exists."))?;
                let role = KeyRole::parse(&row.text(8)?).ok_or_else(|| DomainError::Internal("bad role".into()))?;
                let permissions: Permissions =
                    serde_json::from_value(row.json(9)?).map_err(|e| DomainError::Internal(e.to_string()))?;
                let name = validate_key_name(&row.text(7)?)?;
                let decided_by = row.opt_text(6)?;
                let api_key = insert_key(tx, now, NewKey { workspace_id: &ws_id, user_id: decided_by.as_deref(), name: &name, role, permissions: &permissions, expires_at: None })?;
                tx.execute(
                    "UPDATE agent_login_requests SET status = 'consumed', api_key_id = ? WHERE id = ?",
                    &params![&api_key.api_key.id, &req_id],
                )?;
                Ok(Ok(ExchangeSuccess { workspace, api_key }))
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalize() {
        assert_eq!(normalize_user_code("abcd1234"), "ABCD-1234");
        assert_eq!(normalize_user_code(" ABCD-1234 "), "ABCD-1234");
        let c = new_user_code();
        assert_eq!(c.len(), 9);
        assert_eq!(normalize_user_code(&c), c);
    }
}
