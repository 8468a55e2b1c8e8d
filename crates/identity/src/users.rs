//! Humans and their browser sessions.

use andibase_common::{id, DomainError, DomainResult, Timestamp};
use andibase_storage::{params, Row, Sql};
use serde::Serialize;

use crate::secrets::{hash_password, sha256_hex, verify_password, DUMMY_HASH};
use crate::Identity;

const SESSION_DAYS: i64 = 30;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: Timestamp,
}

pub(crate) const USER_COLUMNS: &str = "id, email, name, is_admin, created_at";

pub(crate) fn user_from_row(r: &Row) -> DomainResult<User> {
    Ok(User {
        id: r.text(0)?,
        email: r.text(1)?,
        name: r.text(2)?,
        is_admin: r.bool(3)?,
        created_at: r.time(4)?,
    })
}

/// A signed-in browser. The raw token only ever lives in the cookie.
#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub user: User,
    pub csrf_token: String,
}

pub(crate) fn validate_email(email: &str) -> DomainResult<String> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(a, b)| {
            !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(DomainError::invalid(
            "email",
            "must be an email address like name@example.com",
        ))
    }
}

pub(crate) fn validate_password(password: &str) -> DomainResult<()> {
    if password.chars().count() < 8 {
        return Err(DomainError::invalid(
            "password",
            "must be at least 8 characters",
        ));
    }
    if password.len() > 512 {
        return Err(DomainError::invalid(
            "password",
            "must be at most 512 bytes",
        ));
    }
    Ok(())
}

impl Identity {
    pub async fn user_count(&self) -> DomainResult<i64> {
        self.db
            .read(|r| {
                r.query_one("SELECT count(*) FROM users", &[])?
                    .map_or(Ok(0), |row| row.int(0))
            })
            .await
    }

    /// Creates a human. Passwords are hashed with argon2id before the write.
    pub async fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        password: &str,
        is_admin: bool,
    ) -> DomainResult<User> {
        let email = validate_email(email)?;
        validate_password(password)?;
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))??;
        let user = User {
            id: id::uuid7(),
            email,
            name,
            is_admin,
            created_at: self.clock.now(),
        };
        let u = user.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO users (id, email, name, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &params![&u.id, &u.email, &u.name, hash, u.is_admin, u.created_at, u.created_at],
                )
            })
            .await
            .map_err(|e| match e {
                DomainError::Conflict { .. } => DomainError::conflict("a user with this email already exists"),
                other => other,
            })?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> DomainResult<Option<User>> {
        let email = email.trim().to_lowercase();
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"),
                    &params![email],
                )?
                .map(|row| user_from_row(&row))
                .transpose()
            })
            .await
    }

    pub async fn user_by_id(&self, user_id: &str) -> DomainResult<Option<User>> {
        let user_id = user_id.to_string();
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
                    &params![user_id],
                )?
                .map(|row| user_from_row(&row))
                .transpose()
            })
            .await
    }

    /// Checks email and password; the same argon2 work is done for unknown emails so
    /// timing does not reveal which emails exist.
    pub async fn verify_credentials(&self, email: &str, password: &str) -> DomainResult<User> {
        let email = email.trim().to_lowercase();
        let found = self
            .db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?"),
                    &params![email],
                )?
                .map(|row| Ok::<_, DomainError>((user_from_row(&row)?, row.text(5)?)))
                .transpose()
            })
            .await?;
        let password = password.to_string();
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, DUMMY_HASH.to_string()),
        };
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        match user {
            Some(u) if ok => Ok(u),
            _ => Err(DomainError::Unauthorized {
                message: "The email or password is incorrect.".into(),
            }),
        }
    }

    /// Starts a browser session; returns the raw token for the cookie.
    pub async fn start_browser_session(&self, user_id: &str) -> DomainResult<(String, Timestamp)> {
        let token = id::random_hex(32);
        let hash = sha256_hex(&token);
        let now = self.clock.now();
        let expires = now.plus_seconds(SESSION_DAYS * 86_400);
        let user_id = user_id.to_string();
        self.db
            .write(move |tx| {
                tx.execute("DELETE FROM browser_sessions WHERE expires_at < ?", &params![now])?;
                tx.execute(
                    "INSERT INTO browser_sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    &params![hash, user_id, id::random_hex(16), now, expires],
                )
            })
            .await?;
        Ok((token, expires))
    }

    pub async fn browser_session(&self, token: &str) -> DomainResult<Option<BrowserSession>> {
        let hash = sha256_hex(token);
        let now = self.clock.now();
        self.db
            .read(move |r| {
                let cols = USER_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                r.query_one(
                    &format!(
                        "SELECT {cols}, s.csrf_token FROM browser_sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.token_hash = ? AND s.expires_at > ?"
                    ),
                    &params![hash, now],
                )?
                .map(|row| {
                    Ok(BrowserSession {
                        user: user_from_row(&row)?,
                        csrf_token: row.text(5)?,
                    })
                })
                .transpose()
            })
            .await
    }

    pub async fn end_browser_session(&self, token: &str) -> DomainResult<()> {
        let hash = sha256_hex(token);
        self.db
            .write(move |tx| {
                tx.execute(
                    "DELETE FROM browser_sessions WHERE token_hash = ?",
                    &params![hash],
                )
            })
            .await
            .map(|_| ())
    }
}
