//! What every handler can reach.

use std::sync::Arc;

use andibase_approvals::Approvals;
use andibase_common::Clock;
use andibase_events::EventBus;
use andibase_identity::Identity;
use andibase_storage::WorkspaceDatabases;

use crate::ops::Metrics;

/// Settings that need a restart (flags and `ANDIBASE_*` variables).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Absolute base URL used in links (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Failed sign-ins per client address, and per account, per minute before further
    /// attempts take the slow path.
    pub sign_in_per_minute: u32,
    /// How long a sign-in on the slow path waits before its password is checked.
    pub sign_in_slow_path: std::time::Duration,
    /// Agent-login starts allowed per client address per minute.
    pub agent_login_per_minute: u32,
    /// Show remote images in approval context Markdown (off: they render as links).
    pub allow_remote_images: bool,
    /// MCP sessions held at once (`--max-mcp-sessions`).
    pub mcp_sessions: usize,
    /// Where user-given URLs (credentials' servers, web tools) may point.
    pub outbound: andibase_outbound::Policy,
    pub connections: crate::ConnectionLimits,
}

impl ServerConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Moves a server's manual clock (test builds started with `--test-clock`): advances it,
/// runs every job that became due, and writes what is batched (key use times), all before
/// answering, so a black-box test can check the outcome at once. Gives the new time.
pub trait TimeControl: Send + Sync {
    fn advance(
        &self,
        ms: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = andibase_common::Timestamp> + Send + '_>>;
}

#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    pub workspaces: Arc<WorkspaceDatabases>,
    /// Committed changes of each workspace, for live pages and long-polls.
    pub events: EventBus,
    /// Console routes, for domain code that links to pages.
    pub links: Arc<dyn andibase_common::Links>,
    pub approvals: Arc<Approvals>,
    /// Parsed data definitions kept between reads.
    pub definitions: Arc<dyn andibase_data::DefinitionCache>,
    /// Memory spaces: their registry, graphs and tokens.
    pub memory: Arc<andibase_memory::Memory>,
    /// The model providers the operator configured (agents' chats, memory's agents).
    pub models: Arc<andibase_llm::Providers>,
    /// Agent chat turns that may run at once (`--max-concurrent-turns`).
    pub turns: Arc<tokio::sync::Semaphore>,
    /// Seals the secrets the server keeps for users (workspace credentials).
    pub vault: andibase_vault::Vault,
    /// Slow list query shapes, and the indexes built for them.
    pub query_log: Arc<andibase_data::QueryLog>,
    /// The record lifecycle hooks (built-ins; automations add script hooks).
    pub data_hooks: Arc<andibase_data::Pipeline>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// Rate windows (sign-in and agent-login attempts per address).
    pub limiter: Arc<dyn andibase_common::rate::RateWindows>,
    /// Sign-ins on the slow path now, by address or account (one at a time each).
    pub slow_sign_ins: Arc<crate::ops::SlowPath>,
    pub clock: Clock,
    /// Present only on a test server (`--test-clock`), which then serves `/__test/clock`.
    pub time_control: Option<Arc<dyn TimeControl>>,
}
