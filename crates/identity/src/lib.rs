//! Identity and tenancy: who is calling and what they may do.
//!
//! Humans (email + argon2id password) sign in to browser sessions; workspaces have
//! members with roles; API keys belong to one workspace and carry a role plus explicit
//! permissions; agents obtain keys through the device-code login of seed 000. All of it
//! lives in the main database.

mod agent_login;
mod api_keys;
mod invitations;
mod members;
pub mod permissions;
mod rate;
mod secrets;
mod setup;
mod users;
mod workspaces;

pub use agent_login::{
    AgentLoginRequestView, AgentLoginStart, ExchangeSuccess, LoginRefusal, LoginStatus,
    StartAgentLogin,
};
pub use api_keys::{ApiKey, ApiKeyAuth, CreateApiKey, CreatedApiKey, UpdateApiKey};
pub use invitations::{CreateInvitation, Invitation};
pub use members::Member;
pub use permissions::{Access, Action, KeyRole, MemberRole, Permission, Permissions, Resource};
pub use rate::SharedRateWindows;
pub use users::{BrowserSession, User};
pub use workspaces::{CreateWorkspace, Membership, Workspace};

use andibase_common::Clock;
use andibase_storage::Database;

/// The identity service over the main database.
pub struct Identity {
    db: Database,
    clock: Clock,
    keys: Box<dyn api_keys::KeyCache>,
    agent_login_ttl_secs: i64,
}

impl Identity {
    pub fn new(db: Database, clock: Clock) -> Identity {
        Identity {
            db,
            clock,
            keys: Box::<api_keys::LocalKeyCache>::default(),
            agent_login_ttl_secs: 15 * 60,
        }
    }

    /// How long an agent login request stays usable (default 15 minutes).
    pub fn with_agent_login_ttl(mut self, seconds: i64) -> Identity {
        self.agent_login_ttl_secs = seconds.max(1);
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}
