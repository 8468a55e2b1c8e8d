//! Invitations: a link that lets the person with that email join the workspace.

use andibase_common::{id, DomainError, DomainResult, Links, Timestamp};
use andibase_storage::{params, Row, Sql};
use serde::{Deserialize, Serialize};

use crate::permissions::{MemberRole, Resource};
use crate::secrets::sha256_hex;
use crate::users::{validate_email, User};
use crate::workspaces::{prefixed_columns, workspace_from_row, Workspace};
use crate::Identity;

const INVITATION_DAYS: i64 = 7;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: MemberRole,
    /// Path of the acceptance page; only present in the create response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    /// `admin`, `editor` (default) or `viewer`.
    #[serde(default)]
    pub role: Option<MemberRole>,
}

fn invitation_from_row(r: &Row) -> DomainResult<Invitation> {
    Ok(Invitation {
        id: r.text(0)?,
        email: r.text(1)?,
        role: MemberRole::parse(&r.text(2)?)
            .ok_or_else(|| DomainError::Internal("bad role".into()))?,
        url: None,
        created_at: r.time(3)?,
        expires_at: r.time(4)?,
    })
}

impl Identity {
    pub async fn create_invitation(
        &self,
        workspace: &Workspace,
        invited_by: Option<&str>,
        actor_role: MemberRole,
        input: CreateInvitation,
        links: &dyn Links,
    ) -> DomainResult<Invitation> {
        let email = validate_email(&input.email)?;
        let role = input.role.unwrap_or(MemberRole::Editor);
        if role == MemberRole::Owner {
            return Err(DomainError::invalid(
                "role",
                "invitations grant admin, editor or viewer",
            ));
        }
        if role > actor_role {
            return Err(DomainError::forbidden(
                Resource::Members.write().to_string(),
                "You cannot invite with a role above your own.",
            ));
        }
        let token = id::random_hex(24);
        let now = self.clock.now();
        let inv = Invitation {
            id: id::uuid7(),
            email,
            role,
            url: Some(links.invitation(&token)),
            created_at: now,
            expires_at: now.plus_seconds(INVITATION_DAYS * 86_400),
        };
        let (i, ws, by) = (
            inv.clone(),
            workspace.id.clone(),
            invited_by.map(str::to_string),
        );
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    &params![&i.id, ws, &i.email, i.role.as_str(), sha256_hex(&token), by, i.created_at, i.expires_at],
                )
            })
            .await?;
        Ok(inv)
    }

    /// Pending (not accepted, not expired) invitations.
    pub async fn list_invitations(&self, workspace: &Workspace) -> DomainResult<Vec<Invitation>> {
        let (ws, now) = (workspace.id.clone(), self.clock.now());
        self.db
            .read(move |r| {
                r.query(
                    "SELECT id, email, role, created_at, expires_at FROM invitations \
                     WHERE workspace_id = ? AND accepted_at IS NULL AND expires_at > ? ORDER BY created_at DESC",
                    &params![ws, now],
                )?
                .iter()
                .map(invitation_from_row)
                .collect()
            })
            .await
    }

    pub async fn delete_invitation(
        &self,
        workspace: &Workspace,
        invitation_id: &str,
    ) -> DomainResult<()> {
        let (ws, id) = (workspace.id.clone(), invitation_id.to_string());
        let n = self
            .db
            .write(move |tx| tx.execute("DELETE FROM invitations WHERE id = ? AND workspace_id = ? AND accepted_at IS NULL", &params![id, ws]))
            .await?;
        if n == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// The pending invitation behind a link, with its workspace.
    pub async fn invitation_by_token(
        &self,
        token: &str,
    ) -> DomainResult<Option<(Invitation, Workspace)>> {
        let (hash, now) = (sha256_hex(token), self.clock.now());
        self.db
            .read(move |r| {
                let wcols = prefixed_columns("w");
                r.query_one(
                    &format!(
                        "SELECT i.id, i.email, i.role, i.created_at, i.expires_at, {wcols} FROM invitations i \
                         JOIN workspaces w ON w.id = i.workspace_id \
                         WHERE i.token_hash = ? AND i.accepted_at IS NULL AND i.expires_at > ? AND w.deleted_at IS NULL"
                    ),
                    &params![hash, now],
                )?
                .map(|row| Ok((invitation_from_row(&row)?, workspace_from_row(&row.slice_from(5))?)))
                .transpose()
            })
            .await
    }

    /// Accepts an invitation as `user`, whose email must be the invited one.
    pub async fn accept_invitation(&self, token: &str, user: &User) -> DomainResult<Workspace> {
        let (inv, ws) = self
            .invitation_by_token(token)
            .await?
            .ok_or(DomainError::NotFound)?;
        if !inv.email.eq_ignore_ascii_case(&user.email) {
            return Err(DomainError::forbidden(
                Resource::Members.write().to_string(),
                format!(
                    "This invitation is for {}; sign in with that account to accept it.",
                    inv.email
                ),
            ));
        }
        let (now, ws_id, uid) = (self.clock.now(), ws.id.clone(), user.id.clone());
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ? AND accepted_at IS NULL",
                    &params![now, &uid, &inv.id],
                )?;
                // Already a member: keep the existing role.
                tx.execute(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (workspace_id, user_id) DO NOTHING",
                    &params![&ws_id, &uid, inv.role.as_str(), now],
                )?;
                Ok(())
            })
            .await?;
        Ok(ws)
    }
}
