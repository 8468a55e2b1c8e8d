//! What every handler can reach.

use std::sync::Arc;

use andibase_approvals::Approvals;
use andibase_common::Clock;
use andibase_events::EventBus;
use andibase_identity::Identity;
use andibase_storage::WorkspaceDatabases;

use crate::ops::{Metrics, RateLimiter};

/// Settings that need a restart (flags and `ANDIBASE_*` variables).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Absolute base URL used in links (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Sign-in attempts allowed per client address per minute.
    pub sign_in_per_minute: u32,
    /// Agent-login starts allowed per client address per minute.
    pub agent_login_per_minute: u32,
    /// Show remote images in approval context Markdown (off: they render as links).
    pub allow_remote_images: bool,
}

impl ServerConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    pub workspaces: Arc<WorkspaceDatabases>,
    /// Committed changes of each workspace, for live pages and long-polls.
    pub events: EventBus,
    pub approvals: Arc<Approvals>,
    /// The record lifecycle hooks (built-ins; automations add script hooks).
    pub data_hooks: Arc<andibase_data::Pipeline>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    pub clock: Clock,
}
