//! Workspaces. A workspace's contents live in its own database file; this is the
//! main-database record that names it and says who belongs to it.

use andibase_common::{id, DomainError, DomainResult, Timestamp};
use andibase_storage::{params, Row, Sql};
use serde::{Deserialize, Serialize};

use crate::permissions::MemberRole;
use crate::Identity;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    #[serde(skip_serializing)]
    pub id: String,
    pub handle: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWorkspace {
    /// Display name, 1–100 characters.
    pub name: String,
    /// URL handle; generated from the name when absent.
    #[serde(default)]
    pub handle: Option<String>,
}

pub(crate) const WORKSPACE_COLUMNS: &str = "id, handle, name, created_at, updated_at, deleted_at";

pub(crate) fn workspace_from_row(r: &Row) -> DomainResult<Workspace> {
    Ok(Workspace {
        id: r.text(0)?,
        handle: r.text(1)?,
        name: r.text(2)?,
        created_at: r.time(3)?,
        updated_at: r.time(4)?,
        deleted_at: r.opt_time(5)?,
    })
}

/// A workspace together with the caller's role in it.
#[derive(Clone, Debug)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: MemberRole,
}

impl Identity {
    /// Creates a workspace with `owner` as its owner.
    pub async fn create_workspace(
        &self,
        input: CreateWorkspace,
        owner: &str,
    ) -> DomainResult<Workspace> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::invalid("name", "must be 1 to 100 characters"));
        }
        let handle = match input.handle {
            Some(h) => {
                if !id::is_valid_handle(&h) {
                    return Err(DomainError::invalid(
                        "handle",
                        "must be 1 to 64 characters of a-z, 0-9 and inner dashes",
                    ));
                }
                h
            }
            None => {
                let h = id::slugify(&name);
                if h.is_empty() {
                    format!("workspace-{}", &id::random_hex(3))
                } else {
                    h
                }
            }
        };
        let now = self.clock.now();
        let ws = Workspace {
            id: id::uuid7(),
            handle,
            name,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let (w, owner) = (ws.clone(), owner.to_string());
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO workspaces (id, handle, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    &params![&w.id, &w.handle, &w.name, &owner, now, now],
                )?;
                tx.execute(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
                    &params![&w.id, &owner, now],
                )
            })
            .await
            .map_err(|e| match e {
                DomainError::Conflict { .. } => {
                    DomainError::conflict(format!("the workspace handle `{}` is taken", ws.handle))
                }
                other => other,
            })?;
        Ok(ws)
    }

    /// Live (not deleted) workspaces the user belongs to, with their role.
    pub async fn memberships(&self, user_id: &str) -> DomainResult<Vec<Membership>> {
        let user_id = user_id.to_string();
        self.db
            .read(move |r| {
                let cols = prefixed_columns("w");
                r.query(
                    &format!(
                        "SELECT {cols}, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
                         WHERE m.user_id = ? AND w.deleted_at IS NULL ORDER BY w.created_at"
                    ),
                    &params![user_id],
                )?
                .iter()
                .map(|row| {
                    Ok(Membership {
                        workspace: workspace_from_row(row)?,
                        role: MemberRole::parse(&row.text(6)?)
                            .ok_or_else(|| DomainError::Internal("bad role".into()))?,
                    })
                })
                .collect()
            })
            .await
    }

    /// The user's membership in the workspace named by handle or id, if any.
    pub async fn membership(
        &self,
        user_id: &str,
        handle_or_id: &str,
    ) -> DomainResult<Option<Membership>> {
        Ok(self
            .memberships(user_id)
            .await?
            .into_iter()
            .find(|m| m.workspace.handle == handle_or_id || m.workspace.id == handle_or_id))
    }

    pub async fn workspace_by_handle(&self, handle: &str) -> DomainResult<Option<Workspace>> {
        let handle = handle.to_string();
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE (handle = ? OR id = ?) AND deleted_at IS NULL"),
                    &params![&handle, &handle],
                )?
                .map(|row| workspace_from_row(&row))
                .transpose()
            })
            .await
    }
}

pub(crate) fn prefixed_columns(alias: &str) -> String {
    WORKSPACE_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
