//! Memory spaces (seed 003): long-term memory for agents, each space a KIP graph of its
//! own (`crates/kip`), owned by one workspace.
//!
//! - Which workspace owns a space is tenancy, kept in `main.db` (`memory_spaces`): space ids
//!   are global, since `/v1/{space_id}/…` names no workspace.
//! - The graph is the file `<workspaces>/<workspace id>.spaces/<space id>.kip.db`, beside
//!   the workspace's database, opened on first use and served by `andibase_kip::Graph`.
//! - Space tokens (`ST…`) live in the workspace's database, as SHA-256 only.
//!
//! This crate knows nothing of HTTP; `server::memory_api` is its adapter.

mod agents;
mod conversations;
mod cwt;
mod dates;
mod formation;
mod maintenance;
mod recall;
mod words;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use cwt::{CwtClaims, CwtVerifier, MIN_CWT_LEN};
pub use formation::{
    FormationInput, FormationJob, InputContext, Message, FORMATION, FORMATION_JOB,
};
pub use maintenance::{
    MaintenanceInput, MaintenanceJob, MaintenanceParameters, MAINTENANCE, MAINTENANCE_JOB,
};
pub use recall::{RecallInput, RECALL};

use andibase_common::{Clock, DomainError, DomainResult, FieldIssue};
use andibase_kip::{Graph, Mode, Request};
use andibase_storage::{params, Database, Row, Sql, WorkspaceDatabases};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Space ids that would collide with the Agent API's own `/v1/…` and `/admin` routes.
pub const RESERVED_SPACE_IDS: [&str; 3] = ["approvals", "agents", "admin"];
/// Tokens a space may have at once (the reference's limit).
const MAX_TOKENS: i64 = 100;
const TOKEN_PREFIX: &str = "ST";
/// The tier of a space created without one.
pub const DEFAULT_TIER: i64 = 2;

/// What a token or key may do in a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "write")]
    Write,
    #[serde(rename = "*")]
    All,
}

impl Scope {
    /// Whether this scope allows what `needed` names: `*` allows everything; otherwise
    /// the scopes must be equal, so a write token does not read (the reference's rule).
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::All || self == needed
    }

    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::All => "*",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "read" => Scope::Read,
            "write" => Scope::Write,
            "*" => Scope::All,
            _ => return None,
        })
    }
}

/// A space as the registry keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub id: String,
    pub workspace_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: String,
    pub public: bool,
    pub tier: i64,
    pub tier_updated_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Whether a BYOK model configuration is stored (read with the row, so a space
    /// without one costs no second read).
    pub has_byok: bool,
}

impl Space {
    /// The concepts its tier allows: 10^(tier+2), as in the reference.
    pub fn allowance(&self) -> i64 {
        10i64.saturating_pow(self.tier.clamp(0, 16) as u32 + 2)
    }
}

/// `POST /admin/create_space` (seed 003's `CreateOrUpdateSpaceInput`, with the optional
/// name, description and visibility a console form also sends).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSpace {
    /// Who the space is for (the seed's `user`); defaults to the caller.
    #[serde(default)]
    pub user: Option<String>,
    pub space_id: String,
    #[serde(default)]
    pub tier: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub public: Option<bool>,
    /// The owning workspace (id or handle): what a platform admin's CWT names; an API key
    /// creates in its own workspace.
    #[serde(default)]
    pub workspace: Option<String>,
}

/// `PATCH /v1/{space_id}/management/update_space`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpace {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub public: Option<bool>,
}

/// `POST /v1/{space_id}/management/add_space_token`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSpaceToken {
    pub scope: Scope,
    pub name: String,
    /// Unix time in milliseconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A space token as listed. `token` is the secret only in the answer that made it;
/// listed later it is `ST…` and the first 12 hex digits of its SHA-256 (secrets are kept
/// hashed), which `revoke_space_token` also takes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SpaceToken {
    pub token: String,
    pub name: String,
    pub scope: Scope,
    pub usage: i64,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Seed 003's `ModelConfig`: the model a space's agents use (BYOK).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub family: String,
    pub model: String,
    pub api_base: String,
    pub api_key: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_auth: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<i64>,
}

/// `POST /admin/{space_id}/update_space_tier` (seed 003's `CreateOrUpdateSpaceInput`).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTier {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub space_id: Option<String>,
    pub tier: i64,
}

/// `POST /v1/{space_id}/get_or_init_user`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOrInitUser {
    /// The principal's id (the Person's name, as the reference keys it).
    pub user: String,
    /// A display name for a new Person.
    #[serde(default)]
    pub name: Option<String>,
}

/// Seed 003's `SpaceInfo`, as far as this service keeps it so far.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SpaceInfo {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub owner: String,
    #[schema(value_type = Object)]
    pub db_stats: Value,
    pub concepts: i64,
    pub propositions: i64,
    pub conversations: i64,
    pub public: bool,
    #[schema(value_type = Object)]
    pub tier: Value,
    #[schema(value_type = Object)]
    pub formation_usage: Value,
    #[schema(value_type = Object)]
    pub recall_usage: Value,
    #[schema(value_type = Object)]
    pub maintenance_usage: Value,
    pub formation_processed_id: i64,
    pub maintenance_processed_id: i64,
    #[schema(value_type = Object)]
    pub maintenance_at: Value,
}

fn sha256_hex(s: &str) -> String {
    andibase_common::hex::encode(&Sha256::digest(s.as_bytes()))
}

/// The listed form of a token: `ST…` and the first 12 hex digits of its hash.
fn listed(hash: &str) -> String {
    format!("{TOKEN_PREFIX}…{}", &hash[..12])
}

fn issue(path: &str, message: impl Into<String>) -> DomainError {
    DomainError::from_issues(vec![FieldIssue::at([path], message)])
}

const SPACE_COLUMNS: &str = "id, workspace_id, name, description, owner, public, tier, tier_updated_at, created_at, updated_at";

fn space_from_row(r: &Row) -> DomainResult<Space> {
    Ok(Space {
        id: r.text(0)?,
        workspace_id: r.text(1)?,
        name: r.opt_text(2)?,
        description: r.opt_text(3)?,
        owner: r.text(4)?,
        public: r.bool(5)?,
        tier: r.int(6)?,
        tier_updated_at: r.int(7)?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
        has_byok: r.bool(10)?,
    })
}

/// The columns a space is read with: [`SPACE_COLUMNS`] and whether it has BYOK.
const SPACE_READ: &str = "id, workspace_id, name, description, owner, public, tier, tier_updated_at, created_at, updated_at, byok IS NOT NULL";

/// Whether `id` can name a space: 1 to 64 ASCII letters, digits, `_` and `-`, and not one
/// of [`RESERVED_SPACE_IDS`].
pub fn valid_space_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !RESERVED_SPACE_IDS.contains(&id)
}

/// A space's graph while it is open, and when it was last asked for.
struct OpenGraph {
    graph: Arc<Graph>,
    used: std::time::Instant,
}

/// The memory service: the registry, the spaces' graphs and tokens.
pub struct Memory {
    main: Database,
    workspaces: Arc<WorkspaceDatabases>,
    dir: PathBuf,
    /// Where graphs live when not in files under `dir`: a PostgreSQL database's URL (a
    /// schema per space there, shared by every replica).
    postgres: Option<String>,
    graphs: Mutex<HashMap<String, OpenGraph>>,
    /// One formation at a time per space.
    forming: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    scheduler: Arc<andibase_jobs::Scheduler>,
    cwt: CwtVerifier,
    vault: Option<andibase_vault::Vault>,
    /// The server's model providers; `None` or no default model: model-free paths.
    models: Option<Arc<andibase_llm::Providers>>,
    /// The guard for addresses users give (BYOK model servers).
    outbound: andibase_outbound::Policy,
    clock: Clock,
}

impl Memory {
    /// `dir` is where workspace databases live (`<data-dir>/workspaces`).
    pub fn new(
        main: Database,
        workspaces: Arc<WorkspaceDatabases>,
        dir: PathBuf,
        scheduler: Arc<andibase_jobs::Scheduler>,
        clock: Clock,
    ) -> Memory {
        Memory {
            main,
            workspaces,
            dir,
            postgres: None,
            graphs: Mutex::default(),
            forming: Mutex::default(),
            scheduler,
            cwt: CwtVerifier::default(),
            vault: None,
            models: None,
            outbound: andibase_outbound::Policy::default(),
            clock,
        }
    }

    /// Forms, recalls and maintains with a model: a space's own (BYOK, called through
    /// the outbound guard under `outbound`) or `providers`' default model.
    pub fn with_models(
        mut self,
        providers: Arc<andibase_llm::Providers>,
        outbound: andibase_outbound::Policy,
    ) -> Memory {
        self.models = Some(providers);
        self.outbound = outbound;
        self
    }

    /// Keeps spaces' graphs in the PostgreSQL database at `url`, one schema per space
    /// (see [`Memory::graph_schema`]), instead of files.
    pub fn with_postgres_graphs(mut self, url: String) -> Memory {
        self.postgres = Some(url);
        self
    }

    /// The PostgreSQL schema of a space's graph: `kg_` and a digest of the workspace and
    /// space ids (space ids are case-sensitive; schema names are not).
    pub fn graph_schema(space: &Space) -> String {
        Memory::graph_schema_of(&space.workspace_id, &space.id)
    }

    /// [`Memory::graph_schema`] of the space `space_id` of `workspace_id`.
    pub fn graph_schema_of(workspace_id: &str, space_id: &str) -> String {
        format!(
            "kg_{}",
            &sha256_hex(&format!("{workspace_id}\0{space_id}"))[..40]
        )
    }

    /// Seals BYOK model configurations with `vault` (without one, BYOK is refused).
    pub fn with_vault(mut self, vault: andibase_vault::Vault) -> Memory {
        self.vault = Some(vault);
        self
    }

    /// Accepts CWT bearer tokens checked by `cwt` (off by default).
    pub fn with_cwt(mut self, cwt: CwtVerifier) -> Memory {
        self.cwt = cwt;
        self
    }

    /// The claims of a CWT bearer token, if CWT is on and the token is good now.
    pub fn verify_cwt(&self, token: &str) -> Option<CwtClaims> {
        self.cwt.verify(token, self.now())
    }

    /// Whether CWT is on (public keys are configured).
    pub fn cwt_enabled(&self) -> bool {
        self.cwt.enabled()
    }

    /// Whether the claims are a platform admin's.
    pub fn is_platform_admin(&self, claims: &CwtClaims) -> bool {
        self.cwt.is_admin(claims)
    }

    /// Stores a conversation and queues its forming; see [`FormationInput`].
    pub async fn formation(
        &self,
        space: &Space,
        input: FormationInput,
        caller: &str,
    ) -> DomainResult<Value> {
        self.submit_formation(space, input, caller, &self.scheduler)
            .await
    }

    fn now(&self) -> i64 {
        self.clock.now().millis()
    }

    /// The file of a space's graph.
    pub fn graph_path(&self, space: &Space) -> PathBuf {
        self.dir
            .join(format!("{}.spaces", space.workspace_id))
            .join(format!("{}.kip.db", space.id))
    }

    /// Creates a space owned by `workspace_id`, and its graph (with KIP's Genesis).
    pub async fn create_space(
        &self,
        workspace_id: &str,
        input: CreateSpace,
        caller: &str,
    ) -> DomainResult<Space> {
        if !valid_space_id(&input.space_id) {
            return Err(issue(
                "space_id",
                "must be 1 to 64 letters, digits, `_` or `-`, and not approvals, agents or admin",
            ));
        }
        // Tier 2 allows 10,000 concepts (tier 0's 100 hold little beyond KIP's Genesis).
        let tier = input.tier.unwrap_or(DEFAULT_TIER);
        if !(0..=10).contains(&tier) {
            return Err(issue("tier", "must be 0 to 10"));
        }
        let now = self.now();
        let space = Space {
            id: input.space_id.clone(),
            workspace_id: workspace_id.to_string(),
            name: input.name,
            description: input.description,
            owner: input.user.unwrap_or_else(|| caller.to_string()),
            public: input.public.unwrap_or(false),
            tier,
            tier_updated_at: now,
            created_at: now,
            updated_at: now,
            has_byok: false,
        };
        let row = space.clone();
        self.main
            .write(move |tx| {
                tx.execute(
                    &format!("INSERT INTO memory_spaces ({SPACE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &params![
                        row.id,
                        row.workspace_id,
                        row.name,
                        row.description,
                        row.owner,
                        row.public,
                        row.tier,
                        row.tier_updated_at,
                        row.created_at,
                        row.updated_at
                    ],
                )
                .map(|_| ())
            })
            .await
            .map_err(|e| match e {
                DomainError::Conflict { .. } => issue("space_id", "is taken"),
                other => other,
            })?;
        self.graph(&space).await?;
        Ok(space)
    }

    /// The space with this id (any workspace's: the caller checks access).
    pub async fn space(&self, id: &str) -> DomainResult<Space> {
        let id = id.to_string();
        self.main
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {SPACE_READ} FROM memory_spaces WHERE id = ?"),
                    &params![id],
                )?
                .map(|row| space_from_row(&row))
                .transpose()?
                .ok_or(DomainError::NotFound)
            })
            .await
    }

    /// The spaces of a workspace.
    pub async fn spaces_of(&self, workspace_id: &str) -> DomainResult<Vec<Space>> {
        let id = workspace_id.to_string();
        self.main
            .read(move |r| {
                r.query(
                    &format!(
                        "SELECT {SPACE_READ} FROM memory_spaces WHERE workspace_id = ? ORDER BY id"
                    ),
                    &params![id],
                )?
                .iter()
                .map(space_from_row)
                .collect()
            })
            .await
    }

    pub async fn update_space(&self, space: &Space, input: UpdateSpace) -> DomainResult<()> {
        if input.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(issue("name", "must be at most 200 characters"));
        }
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 2000)
        {
            return Err(issue("description", "must be at most 2000 characters"));
        }
        let (id, now) = (space.id.clone(), self.now());
        self.main
            .write(move |tx| {
                tx.execute(
                    "UPDATE memory_spaces SET name = coalesce(?, name), description = coalesce(?, description), \
                     public = coalesce(?, public), updated_at = ? WHERE id = ?",
                    &params![input.name, input.description, input.public, now, id],
                )
                .map(|_| ())
            })
            .await
    }

    /// Makes a token; its secret is in this answer only.
    pub async fn add_token(&self, space: &Space, input: AddSpaceToken) -> DomainResult<SpaceToken> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(issue("name", "must be 1 to 100 characters"));
        }
        let now = self.now();
        if input.expires_at.is_some_and(|e| e <= now) {
            return Err(issue("expires_at", "must be in the future"));
        }
        let secret = format!("{TOKEN_PREFIX}{}", andibase_common::id::random_base62(32));
        let hash = sha256_hex(&secret);
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (space_id, row_name, scope) = (space.id.clone(), name.clone(), input.scope);
        db.write(move |tx| {
            let held = tx
                .query_one(
                    "SELECT count(*) FROM memory_space_tokens WHERE space_id = ?",
                    &params![space_id.clone()],
                )?
                .map_or(Ok(0), |r| r.int(0))?;
            if held >= MAX_TOKENS {
                return Err(issue(
                    "name",
                    format!("a space holds at most {MAX_TOKENS} tokens; revoke one first"),
                ));
            }
            tx.execute(
                "INSERT INTO memory_space_tokens (token_hash, space_id, name, scope, usage, created_at, updated_at, expires_at) \
                 VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                &params![hash, space_id, row_name, scope.as_str(), now, now, input.expires_at],
            )
            .map(|_| ())
        })
        .await?;
        Ok(SpaceToken {
            token: secret,
            name,
            scope: input.scope,
            usage: 0,
            created_at: now,
            updated_at: now,
            expires_at: input.expires_at,
        })
    }

    pub async fn list_tokens(&self, space: &Space) -> DomainResult<Vec<SpaceToken>> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let id = space.id.clone();
        db.read(move |r| {
            r.query(
                "SELECT token_hash, name, scope, usage, created_at, updated_at, expires_at \
                 FROM memory_space_tokens WHERE space_id = ? ORDER BY created_at, token_hash",
                &params![id],
            )?
            .iter()
            .map(|row| {
                Ok(SpaceToken {
                    token: listed(&row.text(0)?),
                    name: row.text(1)?,
                    scope: Scope::parse(&row.text(2)?).unwrap_or(Scope::Read),
                    usage: row.int(3)?,
                    created_at: row.int(4)?,
                    updated_at: row.int(5)?,
                    expires_at: row.opt_int(6)?,
                })
            })
            .collect()
        })
        .await
    }

    /// Revokes a token given as its secret or as listed; whether one was revoked.
    pub async fn revoke_token(&self, space: &Space, token: &str) -> DomainResult<bool> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (id, token) = (space.id.clone(), token.to_string());
        db.write(move |tx| {
            let hashes: Vec<String> = tx
                .query(
                    "SELECT token_hash FROM memory_space_tokens WHERE space_id = ?",
                    &params![id.clone()],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<DomainResult<_>>()?;
            let secret_hash = sha256_hex(&token);
            let Some(hash) = hashes
                .into_iter()
                .find(|h| *h == secret_hash || listed(h) == token)
            else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM memory_space_tokens WHERE token_hash = ? AND space_id = ?",
                &params![hash, id],
            )
            .map(|n| n > 0)
        })
        .await
    }

    /// The scope and name of a presented space token, counting its use; none when it is
    /// unknown, another space's, or expired.
    pub async fn verify_token(
        &self,
        space: &Space,
        secret: &str,
    ) -> DomainResult<Option<(Scope, String)>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (id, hash, now) = (space.id.clone(), sha256_hex(secret), self.now());
        db.write(move |tx| {
            // Found and counted in one statement: on PostgreSQL each is a round trip
            // under the workspace's lock, and every request with a token makes this write.
            let Some(row) = tx.query_one(
                "UPDATE memory_space_tokens SET usage = usage + 1, updated_at = ? \
                 WHERE token_hash = ? AND space_id = ? AND (expires_at IS NULL OR expires_at > ?) \
                 RETURNING scope, name",
                &params![now, hash, id, now],
            )?
            else {
                return Ok(None);
            };
            let Some(scope) = Scope::parse(&row.text(0)?) else {
                return Ok(None);
            };
            Ok(Some((scope, row.text(1)?)))
        })
        .await
    }

    /// The space's graph, opened on first use.
    pub async fn graph(&self, space: &Space) -> DomainResult<Arc<Graph>> {
        if let Some(open) = self
            .graphs
            .lock()
            .expect("graphs poisoned")
            .get_mut(&space.id)
        {
            open.used = std::time::Instant::now();
            return Ok(open.graph.clone());
        }
        let path = self.graph_path(space);
        let (postgres, schema) = (self.postgres.clone(), Memory::graph_schema(space));
        let opened = tokio::task::spawn_blocking(move || {
            let failed = |e: andibase_kip::KipError| DomainError::Internal(e.to_string());
            if let Some(url) = postgres {
                return Graph::open_postgres(&url, &schema, 2).map_err(failed);
            }
            // The graph's folder and file are the server user's alone, as databases are.
            let private = |r: std::io::Result<()>| {
                r.map_err(|e| DomainError::Internal(format!("memory space file: {e}")))
            };
            if let Some(dir) = path.parent() {
                private(andibase_storage::files::private_dir(dir))?;
            }
            private(andibase_storage::files::private_file(&path))?;
            Graph::open(&path, 2).map_err(failed)
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))??;
        let mut graphs = self.graphs.lock().expect("graphs poisoned");
        Ok(graphs
            .entry(space.id.clone())
            .or_insert_with(|| OpenGraph {
                graph: Arc::new(opened),
                used: std::time::Instant::now(),
            })
            .graph
            .clone())
    }

    /// How many spaces' graphs are open (each holds a writer and two reader threads).
    pub fn open_graphs(&self) -> usize {
        self.graphs.lock().expect("graphs poisoned").len()
    }

    /// Closes the graphs nobody has asked for in `idle` and nobody holds now (their
    /// threads end; the next use opens the file again). Gives how many were closed.
    pub async fn close_idle(&self, idle: std::time::Duration) -> usize {
        let closing: Vec<Arc<Graph>> = {
            let mut graphs = self.graphs.lock().expect("graphs poisoned");
            let idle_ids: Vec<String> = graphs
                .iter()
                .filter(|(_, g)| g.used.elapsed() >= idle && Arc::strong_count(&g.graph) == 1)
                .map(|(id, _)| id.clone())
                .collect();
            idle_ids
                .iter()
                .filter_map(|id| graphs.remove(id).map(|g| g.graph))
                .collect()
        };
        let n = closing.len();
        // Dropping a graph joins its threads: not on the async runtime.
        if n > 0 {
            let _ = tokio::task::spawn_blocking(move || drop(closing)).await;
        }
        n
    }

    /// Runs a KIP request (the §7 envelope: `{command | commands, parameters, dry_run}`)
    /// read-only: KML in it answers KIP_1001. Gives the KIP envelope.
    pub async fn execute_kip_readonly(&self, space: &Space, request: Value) -> DomainResult<Value> {
        let request: Request = serde_json::from_value(request)
            .map_err(|e| issue("commands", format!("is not a KIP request: {e}")))?;
        let graph = self.graph(space).await?;
        tokio::task::spawn_blocking(move || graph.execute(request, Mode::ReadOnly))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))
    }

    /// Runs a KIP request that may write (KML), within the tier's allowance: a write past
    /// it is refused. Gives the KIP envelope.
    pub async fn execute_kip(&self, space: &Space, request: Value) -> DomainResult<Value> {
        let request: Request = serde_json::from_value(request)
            .map_err(|e| issue("commands", format!("is not a KIP request: {e}")))?;
        let graph = self.graph(space).await?;
        let allowance = space.allowance();
        tokio::task::spawn_blocking(move || {
            agents::within_allowance(&graph, allowance, &request)
                .map(|()| graph.execute(request, Mode::ReadWrite))
                .map_err(|why| issue("command", why))
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))?
    }

    /// Stores a space's model configuration, sealed; the key is never shown again.
    pub async fn set_byok(&self, space: &Space, config: ModelConfig) -> DomainResult<()> {
        for (field, value, max) in [
            ("family", &config.family, 40),
            ("model", &config.model, 200),
            ("api_base", &config.api_base, 2000),
            ("api_key", &config.api_key, 4000),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(issue(field, format!("must be 1 to {max} characters")));
            }
        }
        if !(config.api_base.starts_with("https://") || config.api_base.starts_with("http://")) {
            return Err(issue("api_base", "must be an http(s) URL"));
        }
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| DomainError::Internal("no vault to seal BYOK secrets".into()))?;
        let sealed = vault.seal(
            &serde_json::to_string(&config).map_err(|e| DomainError::Internal(e.to_string()))?,
        );
        let (id, now) = (space.id.clone(), self.now());
        self.main
            .write(move |tx| {
                tx.execute(
                    "UPDATE memory_spaces SET byok = ?, updated_at = ? WHERE id = ?",
                    &params![andibase_storage::Value::Blob(sealed), now, id],
                )
                .map(|_| ())
            })
            .await
    }

    /// A space's model configuration (the key included: for its agents, never shown).
    pub async fn byok(&self, space: &Space) -> DomainResult<Option<ModelConfig>> {
        let id = space.id.clone();
        let sealed = self
            .main
            .read(move |r| {
                r.query_one("SELECT byok FROM memory_spaces WHERE id = ?", &params![id])?
                    .map(|row| match row.value(0) {
                        andibase_storage::Value::Blob(b) => Ok(Some(b.clone())),
                        _ => Ok(None),
                    })
                    .transpose()
                    .map(Option::flatten)
            })
            .await?;
        let (Some(sealed), Some(vault)) = (sealed, self.vault.as_ref()) else {
            return Ok(None);
        };
        let text = vault.open_sealed(&sealed)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DomainError::Internal(e.to_string()))
    }

    /// Sets a space's tier (its node allowance is 10^(tier+2)).
    pub async fn update_tier(&self, space: &Space, tier: i64) -> DomainResult<Value> {
        if !(0..=10).contains(&tier) {
            return Err(issue("tier", "must be 0 to 10"));
        }
        let (id, now) = (space.id.clone(), self.now());
        self.main
            .write(move |tx| {
                tx.execute(
                    "UPDATE memory_spaces SET tier = ?, tier_updated_at = ?, updated_at = ? WHERE id = ?",
                    &params![tier, now, now, id],
                )
                .map(|_| ())
            })
            .await?;
        Ok(json!({"tier": tier, "updated_at": now}))
    }

    /// The `Person` node of a principal, made (`{name: user, attributes: {id, person_class:
    /// "Human", display_name?}}`) if it is not there; an existing one is left as it is.
    pub async fn get_or_init_user(
        &self,
        space: &Space,
        input: GetOrInitUser,
    ) -> DomainResult<Value> {
        let user = input.user.trim().to_string();
        if user.is_empty() || user.chars().count() > 200 || user.starts_with('$') {
            return Err(issue(
                "user",
                "must be 1 to 200 characters, not starting with `$`",
            ));
        }
        let graph = self.graph(space).await?;
        let display_name = input.name;
        let kip = move |command: &str, parameters: Value, mode: Mode| -> DomainResult<Value> {
            let out = conversations::run_kip(&graph, command, parameters, mode)?;
            match out["error"]["code"].as_str() {
                // No such Person yet.
                Some("KIP_3002") => Ok(Value::Null),
                _ => conversations::kip_result(out),
            }
        };
        tokio::task::spawn_blocking(move || {
            let find = r#"FIND(?p) WHERE { ?p {type: "Person", name: :user} }"#;
            let found = kip(find, json!({"user": user}), Mode::ReadOnly)?;
            if let Some(person) = found.as_array().and_then(|rows| rows.first()) {
                return Ok(person.clone());
            }
            let mut attributes = json!({"id": user, "person_class": "Human"});
            if let Some(name) = display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                attributes["display_name"] = json!(name);
            }
            kip(
                r#"UPSERT { CONCEPT ?p { {type: "Person", name: :user} SET ATTRIBUTES :attributes } }"#,
                json!({"user": user, "attributes": attributes}),
                Mode::ReadWrite,
            )?;
            let found = kip(find, json!({"user": user}), Mode::ReadOnly)?;
            found
                .as_array()
                .and_then(|rows| rows.first())
                .cloned()
                .ok_or_else(|| DomainError::Internal("the new Person is not there".into()))
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))?
    }

    /// Whether a formation is queued or running.
    pub async fn formation_processing(&self, space: &Space) -> DomainResult<bool> {
        Ok(self.formation_counts(space).await?.2)
    }

    /// The model usage of each collection's conversations, summed:
    /// `{collection: {input_tokens, output_tokens, cached_tokens, requests}}`.
    async fn usage_totals(&self, space: &Space) -> DomainResult<Value> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let id = space.id.clone();
        db.read(move |r| {
            let mut totals = json!({});
            for collection in [formation::FORMATION, recall::RECALL, maintenance::MAINTENANCE] {
                totals[collection] = json!({"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "requests": 0});
            }
            let d = r.dialect();
            let sums: Vec<String> = ["input_tokens", "output_tokens", "cached_tokens", "requests"]
                .iter()
                .map(|key| format!("sum(coalesce({}, 0))", d.json_integer("usage", key)))
                .collect();
            for row in r.query(
                &format!(
                    "SELECT collection, {} FROM memory_conversations WHERE space_id = ? GROUP BY collection",
                    sums.join(", ")
                ),
                &params![id],
            )? {
                totals[row.text(0)?] = json!({
                    "input_tokens": row.int(1)?,
                    "output_tokens": row.int(2)?,
                    "cached_tokens": row.int(3)?,
                    "requests": row.int(4)?,
                });
            }
            Ok(totals)
        })
        .await
    }

    /// Seed 003's `SpaceInfo`.
    pub async fn info(&self, space: &Space) -> DomainResult<SpaceInfo> {
        let graph = self.graph(space).await?;
        let (concepts, propositions) = tokio::task::spawn_blocking(move || graph.counts())
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let size = std::fs::metadata(self.graph_path(space)).map_or(0, |m| m.len());
        let (conversations, formed, _) = self.formation_counts(space).await?;
        let marks = self.watermarks(space).await?;
        let usage = self.usage_totals(space).await?;
        Ok(SpaceInfo {
            id: space.id.clone(),
            name: space.name.clone(),
            description: space.description.clone(),
            owner: space.owner.clone(),
            db_stats: json!({"file_bytes": size}),
            concepts,
            propositions,
            conversations,
            public: space.public,
            tier: json!({"tier": space.tier, "updated_at": space.tier_updated_at}),
            formation_usage: usage[formation::FORMATION].clone(),
            recall_usage: usage[recall::RECALL].clone(),
            maintenance_usage: usage[maintenance::MAINTENANCE].clone(),
            formation_processed_id: formed,
            maintenance_processed_id: marks["daydream"]
                .as_i64()
                .unwrap_or(0)
                .max(marks["quick"].as_i64().unwrap_or(0))
                .max(marks["full"].as_i64().unwrap_or(0)),
            maintenance_at: marks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_ids_and_scopes() {
        assert!(valid_space_id("my_space_001") && valid_space_id("a-b"));
        for bad in [
            "",
            "approvals",
            "agents",
            "admin",
            "a b",
            "ä",
            &"x".repeat(65),
        ] {
            assert!(!valid_space_id(bad), "{bad}");
        }
        assert!(Scope::All.allows(Scope::Write) && Scope::Write.allows(Scope::Write));
        assert!(!Scope::Write.allows(Scope::Read), "write does not read");
        assert!(!Scope::Read.allows(Scope::Write));
    }
}
