//! Workspace members.

use andibase_common::{DomainError, DomainResult, Timestamp};
use andibase_storage::{params, Sql};
use serde::Serialize;

use crate::permissions::{MemberRole, Resource};
use crate::workspaces::Workspace;
use crate::Identity;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The user's id.
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: MemberRole,
    /// When the user joined the workspace.
    pub created_at: Timestamp,
}

impl Identity {
    pub async fn list_members(&self, workspace: &Workspace) -> DomainResult<Vec<Member>> {
        let ws = workspace.id.clone();
        self.db
            .read(move |r| {
                r.query(
                    "SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.workspace_id = ? ORDER BY m.created_at",
                    &params![ws],
                )?
                .iter()
                .map(|row| {
                    Ok(Member {
                        id: row.text(0)?,
                        email: row.text(1)?,
                        name: row.text(2)?,
                        role: MemberRole::parse(&row.text(3)?).ok_or_else(|| DomainError::Internal("bad role".into()))?,
                        created_at: row.time(4)?,
                    })
                })
                .collect()
            })
            .await
    }

    /// Removes a member and revokes the API keys they created in this workspace. The
    /// last owner cannot be removed; only owners remove owners.
    pub async fn remove_member(
        &self,
        workspace: &Workspace,
        actor_role: MemberRole,
        user_id: &str,
    ) -> DomainResult<()> {
        let (ws, uid) = (workspace.id.clone(), user_id.to_string());
        self.db
            .write(move |tx| {
                let role = tx
                    .query_one("SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?", &params![&ws, &uid])?
                    .ok_or(DomainError::NotFound)?
                    .text(0)?;
                if MemberRole::parse(&role) == Some(MemberRole::Owner) {
                    if actor_role != MemberRole::Owner {
                        return Err(DomainError::forbidden(Resource::Members.write().to_string(), "Only an owner can remove an owner."));
                    }
                    let owners = tx
                        .query_one("SELECT count(*) FROM memberships WHERE workspace_id = ? AND role = 'owner'", &params![&ws])?
                        .map_or(Ok(0), |r| r.int(0))?;
                    if owners <= 1 {
                        return Err(DomainError::conflict("the last owner of a workspace cannot be removed"));
                    }
                }
                tx.execute("DELETE FROM api_keys WHERE workspace_id = ? AND user_id = ?", &params![&ws, &uid])?;
                tx.announce(crate::api_keys::WORKSPACE_KEYS_CHANGED, &ws)?;
                tx.execute("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", &params![&ws, &uid])?;
                Ok(())
            })
            .await?;
        self.forget_cached_keys(&workspace.id);
        Ok(())
    }
}
