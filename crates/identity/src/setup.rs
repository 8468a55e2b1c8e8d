//! The one-time setup link that creates the first admin on a fresh server.

use andibase_common::{id, DomainError, DomainResult};
use andibase_storage::{params, Sql};

use crate::secrets::sha256_hex;
use crate::users::User;
use crate::workspaces::{CreateWorkspace, Workspace};
use crate::Identity;

impl Identity {
    /// With no users yet, makes a fresh setup token (replacing any older one) and
    /// returns it; otherwise `None`.
    pub async fn issue_setup_token(&self) -> DomainResult<Option<String>> {
        if self.user_count().await? > 0 {
            return Ok(None);
        }
        let token = id::random_hex(24);
        let hash = sha256_hex(&token);
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES ('setup_token_hash', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &params![hash],
                )
            })
            .await?;
        Ok(Some(token))
    }

    pub async fn setup_token_valid(&self, token: &str) -> DomainResult<bool> {
        let hash = sha256_hex(token);
        self.db
            .read(move |r| {
                Ok(r.query_one("SELECT 1 FROM settings s WHERE key = 'setup_token_hash' AND value = ? AND NOT EXISTS (SELECT 1 FROM users)", &params![hash])?
                    .is_some())
            })
            .await
    }

    /// Creates the first admin and their workspace; the token then stops working.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        name: Option<&str>,
        password: &str,
        workspace_name: &str,
    ) -> DomainResult<(User, Workspace)> {
        crate::users::validate_email(email)?;
        crate::users::validate_password(password)?;
        // Consume the token first, in one statement, so two racing forms cannot both win.
        let hash = sha256_hex(token);
        let consumed = self
            .db
            .write(move |tx| {
                tx.execute(
                    "DELETE FROM settings WHERE key = 'setup_token_hash' AND value = ? AND NOT EXISTS (SELECT 1 FROM users)",
                    &params![hash],
                )
            })
            .await?;
        if consumed != 1 {
            return Err(DomainError::Unauthorized {
                message: "This setup link is invalid or was already used.".into(),
            });
        }
        let user = self.create_user(email, name, password, true).await?;
        let ws = self
            .create_workspace(
                CreateWorkspace {
                    name: workspace_name.to_string(),
                    handle: None,
                },
                &user.id,
            )
            .await?;
        Ok((user, ws))
    }
}
