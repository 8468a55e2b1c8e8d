//! Workspace API keys: `andi_live_` + 43 base62 characters (about 256 bits), shown
//! once, stored as SHA-256. Lookups are cached so an authenticated request costs
//! microseconds; `lastRequest` is collected in memory and written in batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use andibase_common::{id, DomainError, DomainResult, Timestamp};
use andibase_storage::{params, Row, Sql, Tx};
use serde::{Deserialize, Serialize};

use crate::permissions::{Access, KeyRole, MemberRole, Permissions, Resource};
use crate::secrets::sha256_hex;
use crate::workspaces::{prefixed_columns, workspace_from_row, Workspace};
use crate::Identity;

pub const KEY_PREFIX: &str = "andi_";
const SECRET_PREFIX: &str = "andi_live_";
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Announced with a key's hash when it is changed or deleted.
const KEY_CHANGED: &str = "api-key";
/// Announced with a workspace's id when several of its keys are deleted.
pub(crate) const WORKSPACE_KEYS_CHANGED: &str = "workspace-keys";

/// Key metadata as the API shows it (never the secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub start: String,
    pub prefix: String,
    pub enabled: bool,
    pub role: KeyRole,
    #[schema(value_type = Object)]
    pub permissions: Permissions,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_request: Option<Timestamp>,
}

/// The one response that carries the secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The secret. Returned once; store it now.
    pub key: String,
    pub api_key: ApiKey,
}

/// Changes to a key: rename it, or disable and re-enable it without revoking it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateApiKey {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Defaults to the creator's highest assignable role.
    #[serde(default)]
    pub role: Option<KeyRole>,
    /// Extra permissions `{resource: [actions]}`, added to the role's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<Permissions>,
    /// ISO-8601 expiry; absent means the key lives until revoked.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// What a valid key resolves to. Shared, not copied, on every request.
#[derive(Debug)]
pub struct ApiKeyAuth {
    pub key_id: String,
    pub user_id: Option<String>,
    pub workspace: Arc<Workspace>,
    pub access: Access,
}

pub(crate) struct CachedKey {
    auth: Arc<ApiKeyAuth>,
    enabled: bool,
    expires_at: Option<Timestamp>,
    fetched: Instant,
    /// Last use (ms), and the last value written to the database.
    last_used: AtomicI64,
    last_flushed: AtomicI64,
}

/// Resolved keys by secret hash, so an authenticated request costs no database read.
/// Per process: revoking through this process takes effect at once; other replicas
/// forget the key when they hear the revocation announced (see
/// [`crate::Identity::follow_other_replicas`]), and at the latest after [`CACHE_TTL`].
pub(crate) trait KeyCache: Send + Sync {
    /// The key, if kept and younger than [`CACHE_TTL`].
    fn get(&self, hash: &str) -> Option<Arc<CachedKey>>;
    /// Keeps a freshly loaded key, carrying over the unflushed use time of the entry it
    /// replaces.
    fn put(&self, hash: String, key: Arc<CachedKey>);
    fn forget(&self, hash: &str);
    fn forget_workspace(&self, workspace_id: &str);
    fn forget_all(&self);
    /// Every kept key (to write their use times).
    fn all(&self) -> Vec<Arc<CachedKey>>;
}

/// Keys kept in this process's memory.
#[derive(Default)]
pub(crate) struct LocalKeyCache {
    by_hash: RwLock<HashMap<String, Arc<CachedKey>>>,
}

impl LocalKeyCache {
    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<CachedKey>>> {
        self.by_hash.read().expect("key cache poisoned")
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<CachedKey>>> {
        self.by_hash.write().expect("key cache poisoned")
    }
}

impl KeyCache for LocalKeyCache {
    fn get(&self, hash: &str) -> Option<Arc<CachedKey>> {
        self.map()
            .get(hash)
            .filter(|k| k.fetched.elapsed() < CACHE_TTL)
            .cloned()
    }

    fn put(&self, hash: String, key: Arc<CachedKey>) {
        let mut map = self.map_mut();
        if let Some(old) = map.get(&hash) {
            // Keep the unflushed use time of the entry being refreshed.
            key.last_used
                .store(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
            key.last_flushed
                .store(old.last_flushed.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        map.insert(hash, key);
    }

    fn forget(&self, hash: &str) {
        self.map_mut().remove(hash);
    }

    fn forget_workspace(&self, workspace_id: &str) {
        self.map_mut()
            .retain(|_, k| k.auth.workspace.id != workspace_id);
    }

    fn forget_all(&self) {
        self.map_mut().clear();
    }

    fn all(&self) -> Vec<Arc<CachedKey>> {
        self.map().values().cloned().collect()
    }
}

const KEY_COLUMNS: &str =
    "k.id, k.name, k.start, k.prefix, k.enabled, k.role, k.permissions, k.created_at, k.updated_at, k.expires_at, k.last_request";

fn key_from_row(r: &Row) -> DomainResult<ApiKey> {
    Ok(ApiKey {
        id: r.text(0)?,
        name: r.text(1)?,
        start: r.text(2)?,
        prefix: r.text(3)?,
        enabled: r.bool(4)?,
        role: KeyRole::parse(&r.text(5)?)
            .ok_or_else(|| DomainError::Internal("bad key role".into()))?,
        permissions: serde_json::from_value(r.json(6)?)
            .map_err(|e| DomainError::Internal(e.to_string()))?,
        created_at: r.time(7)?,
        updated_at: r.time(8)?,
        expires_at: r.opt_time(9)?,
        last_request: r.opt_time(10)?,
    })
}

/// Inserts a new key inside an existing transaction; used by key creation and by the
/// agent-login exchange so both go through one path.
pub(crate) struct NewKey<'a> {
    pub workspace_id: &'a str,
    /// Who created it (none for keys the server mints itself).
    pub user_id: Option<&'a str>,
    pub name: &'a str,
    pub role: KeyRole,
    pub permissions: &'a Permissions,
    pub expires_at: Option<Timestamp>,
}

pub(crate) fn insert_key(
    tx: &Tx<'_>,
    now: Timestamp,
    new: NewKey<'_>,
) -> DomainResult<CreatedApiKey> {
    let NewKey {
        workspace_id,
        user_id,
        name,
        role,
        permissions,
        expires_at,
    } = new;
    let secret = format!("{SECRET_PREFIX}{}", id::random_base62(43));
    let key = ApiKey {
        id: id::prefixed("key"),
        name: name.to_string(),
        start: secret[..6].to_string(),
        prefix: KEY_PREFIX.to_string(),
        enabled: true,
        role,
        permissions: permissions.clone(),
        created_at: now,
        updated_at: now,
        expires_at,
        last_request: None,
    };
    let perms =
        serde_json::to_string(permissions).map_err(|e| DomainError::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO api_keys (id, workspace_id, user_id, name, key_hash, start, prefix, role, permissions, enabled, expires_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        &params![
            &key.id,
            workspace_id,
            user_id,
            &key.name,
            sha256_hex(&secret),
            &key.start,
            &key.prefix,
            role.as_str(),
            perms,
            expires_at,
            now,
            now
        ],
    )?;
    Ok(CreatedApiKey {
        key: secret,
        api_key: key,
    })
}

/// The stored hash of a key the caller may manage: any key of the workspace for admins
/// and owners (`all`), else only their own.
fn manageable_key_hash(
    tx: &Tx<'_>,
    key_id: &str,
    workspace_id: &str,
    all: bool,
    user_id: &str,
) -> DomainResult<String> {
    tx.query_one(
        "SELECT key_hash FROM api_keys WHERE id = ? AND workspace_id = ? AND (? = 1 OR user_id = ?)",
        &params![key_id, workspace_id, all, user_id],
    )?
    .ok_or(DomainError::NotFound)?
    .text(0)
}

pub(crate) fn validate_key_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

impl Identity {
    /// Creates a key for a member. The role may not exceed what the member could do.
    pub async fn create_api_key(
        &self,
        workspace: &Workspace,
        user_id: &str,
        member_role: MemberRole,
        input: CreateApiKey,
    ) -> DomainResult<CreatedApiKey> {
        let name = validate_key_name(&input.name)?;
        let max = member_role.acting_role();
        let role = input.role.unwrap_or(max);
        if role > max {
            return Err(DomainError::forbidden(
                Resource::ApiKeys.write().to_string(),
                format!(
                    "Your role ({}) cannot create a key with role {}.",
                    member_role.as_str(),
                    role.as_str()
                ),
            ));
        }
        let permissions = input.permissions.unwrap_or_default();
        let extra = Access::from_permissions(&permissions)?;
        if extra.union(Access::of_role(max)) != Access::of_role(max) {
            return Err(DomainError::forbidden(
                Resource::ApiKeys.write().to_string(),
                "Explicit permissions may not exceed your own access in this workspace.",
            ));
        }
        let now = self.clock.now();
        let expires_at = match input.expires_at {
            None => None,
            Some(s) => {
                let t = Timestamp::parse_iso(&s).ok_or_else(|| {
                    DomainError::invalid(
                        "expiresAt",
                        "must be an ISO-8601 UTC time like 2026-03-11T02:00:00.000Z",
                    )
                })?;
                if t <= now {
                    return Err(DomainError::invalid("expiresAt", "must be in the future"));
                }
                Some(t)
            }
        };
        let (ws_id, user_id) = (workspace.id.clone(), user_id.to_string());
        self.db
            .write(move |tx| {
                insert_key(
                    tx,
                    now,
                    NewKey {
                        workspace_id: &ws_id,
                        user_id: Some(&user_id),
                        name: &name,
                        role,
                        permissions: &permissions,
                        expires_at,
                    },
                )
            })
            .await
    }

    /// Keys of a workspace: all of them for admins and owners, else the caller's own.
    pub async fn list_api_keys(
        &self,
        workspace: &Workspace,
        user_id: &str,
        member_role: MemberRole,
    ) -> DomainResult<Vec<ApiKey>> {
        let (ws, user, all) = (
            workspace.id.clone(),
            user_id.to_string(),
            member_role >= MemberRole::Admin,
        );
        self.db
            .read(move |r| {
                r.query(
                    &format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.workspace_id = ? AND (? = 1 OR k.user_id = ?) ORDER BY k.created_at DESC"
                    ),
                    &params![ws, all, user],
                )?
                .iter()
                .map(key_from_row)
                .collect()
            })
            .await
    }

    /// Revokes (deletes) a key. Admins and owners may revoke any key of the
    /// workspace; others only their own. Effective at once on this server.
    pub async fn delete_api_key(
        &self,
        workspace: &Workspace,
        user_id: &str,
        member_role: MemberRole,
        key_id: &str,
    ) -> DomainResult<()> {
        let (ws, user, all, key) = (
            workspace.id.clone(),
            user_id.to_string(),
            member_role >= MemberRole::Admin,
            key_id.to_string(),
        );
        let hash = self
            .db
            .write(move |tx| {
                let hash = manageable_key_hash(tx, &key, &ws, all, &user)?;
                tx.execute("DELETE FROM api_keys WHERE id = ?", &params![&key])?;
                tx.announce(KEY_CHANGED, &hash)?;
                Ok(hash)
            })
            .await?;
        self.keys.forget(&hash);
        Ok(())
    }

    /// Renames, disables or re-enables a key, with the same ownership rule as revoking.
    /// A disabled key is refused at once on this server.
    pub async fn update_api_key(
        &self,
        workspace: &Workspace,
        user_id: &str,
        member_role: MemberRole,
        key_id: &str,
        input: UpdateApiKey,
    ) -> DomainResult<ApiKey> {
        let name = input.name.as_deref().map(validate_key_name).transpose()?;
        let (ws, user, all, key, now) = (
            workspace.id.clone(),
            user_id.to_string(),
            member_role >= MemberRole::Admin,
            key_id.to_string(),
            self.clock.now(),
        );
        let (hash, updated) = self
            .db
            .write(move |tx| {
                let hash = manageable_key_hash(tx, &key, &ws, all, &user)?;
                tx.announce(KEY_CHANGED, &hash)?;
                tx.execute(
                    "UPDATE api_keys SET name = coalesce(?, name), enabled = coalesce(?, enabled), updated_at = ? WHERE id = ?",
                    &params![name, input.enabled, now, &key],
                )?;
                let row = tx
                    .query_one(&format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = ?"), &params![&key])?
                    .ok_or(DomainError::NotFound)?;
                Ok((hash, key_from_row(&row)?))
            })
            .await?;
        self.keys.forget(&hash);
        Ok(updated)
    }

    /// Forgets every cached key of a workspace (after bulk revocation).
    pub(crate) fn forget_cached_keys(&self, workspace_id: &str) {
        self.keys.forget_workspace(workspace_id);
    }

    /// Forgets the keys other replicas changed, as they announce them (on PostgreSQL;
    /// on SQLite there are none and this returns at once). Run it for the server's life.
    pub async fn follow_other_replicas(&self) {
        let Some(mut heard) = self.db.announcements() else {
            return;
        };
        loop {
            match heard.recv().await {
                Ok(a) if a.topic == KEY_CHANGED => self.keys.forget(&a.message),
                Ok(a) if a.topic == WORKSPACE_KEYS_CHANGED => {
                    self.keys.forget_workspace(&a.message)
                }
                Ok(a) if a.topic == andibase_storage::MISSED => self.keys.forget_all(),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.keys.forget_all(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Resolves a presented secret. `None` when unknown, disabled, expired, revoked or
    /// malformed; the caller answers all of those the same way.
    pub async fn authenticate_api_key(
        &self,
        secret: &str,
    ) -> DomainResult<Option<Arc<ApiKeyAuth>>> {
        if !secret.starts_with(SECRET_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(secret);
        let now = self.clock.now();
        let entry = match self.keys.get(&hash) {
            Some(entry) => entry,
            None => {
                let Some(entry) = self.load_key(&hash).await? else {
                    return Ok(None);
                };
                self.keys.put(hash, entry.clone());
                entry
            }
        };
        if !entry.enabled || entry.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        entry.last_used.fetch_max(now.0, Ordering::Relaxed);
        Ok(Some(entry.auth.clone()))
    }

    async fn load_key(&self, hash: &str) -> DomainResult<Option<Arc<CachedKey>>> {
        let h = hash.to_string();
        let found = self
            .db
            .read(move |r| {
                let wcols = prefixed_columns("w");
                r.query_one(
                    &format!(
                        "SELECT k.id, k.user_id, k.role, k.permissions, k.enabled, k.expires_at, coalesce(k.last_request, 0), {wcols} \
                         FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id \
                         WHERE k.key_hash = ? AND w.deleted_at IS NULL"
                    ),
                    &params![h],
                )
            })
            .await?;
        let Some(row) = found else { return Ok(None) };
        let role = KeyRole::parse(&row.text(2)?)
            .ok_or_else(|| DomainError::Internal("bad key role".into()))?;
        let perms: Permissions = serde_json::from_value(row.json(3)?)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let last = row.int(6)?;
        Ok(Some(Arc::new(CachedKey {
            auth: Arc::new(ApiKeyAuth {
                key_id: row.text(0)?,
                user_id: row.opt_text(1)?,
                workspace: Arc::new(workspace_from_row(&row.slice_from(7))?),
                access: Access::of_role(role).union(Access::from_permissions(&perms)?),
            }),
            enabled: row.bool(4)?,
            expires_at: row.opt_time(5)?,
            fetched: Instant::now(),
            last_used: AtomicI64::new(last),
            last_flushed: AtomicI64::new(last),
        })))
    }

    /// Writes the use times collected since the last flush, in one transaction.
    pub async fn flush_last_requests(&self) -> DomainResult<usize> {
        let pending: Vec<(String, i64)> = self
            .keys
            .all()
            .into_iter()
            .filter_map(|k| {
                let used = k.last_used.load(Ordering::Relaxed);
                (used > k.last_flushed.swap(used, Ordering::Relaxed))
                    .then(|| (k.auth.key_id.clone(), used))
            })
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let n = pending.len();
        self.db
            .write(move |tx| {
                for (key, at) in &pending {
                    tx.execute(
                        "UPDATE api_keys SET last_request = ? WHERE id = ? AND (last_request IS NULL OR last_request < ?)",
                        &params![*at, key, *at],
                    )?;
                }
                Ok(())
            })
            .await?;
        Ok(n)
    }
}

impl Identity {
    /// A key made by the operator from the command line (no member owns it).
    pub async fn create_operator_key(
        &self,
        workspace: &Workspace,
        name: &str,
        role: KeyRole,
        permissions: &Permissions,
    ) -> DomainResult<CreatedApiKey> {
        let name = validate_key_name(name)?;
        Access::from_permissions(permissions)?;
        let (ws, now, perms) = (workspace.id.clone(), self.clock.now(), permissions.clone());
        self.db
            .write(move |tx| {
                let new = NewKey {
                    workspace_id: &ws,
                    user_id: None,
                    name: &name,
                    role,
                    permissions: &perms,
                    expires_at: None,
                };
                insert_key(tx, now, new)
            })
            .await
    }
}
