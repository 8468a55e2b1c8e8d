//! The console's routes, for domain code that needs to point at a page.

use andibase_common::Links;

/// Links to this server's console pages; `public_url` makes the absolute ones.
pub struct ConsoleLinks {
    public_url: String,
}

impl ConsoleLinks {
    pub fn new(public_url: &str) -> ConsoleLinks {
        ConsoleLinks {
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }
}

impl Links for ConsoleLinks {
    fn agent(&self, workspace_handle: &str, agent_handle: &str, agent_id: &str) -> String {
        format!("/w/{workspace_handle}/agents/{agent_handle}-{agent_id}")
    }

    fn session(&self, workspace_handle: &str, session_id: &str) -> String {
        format!(
            "{}/w/{workspace_handle}/sessions/{session_id}",
            self.public_url
        )
    }

    fn approvals(&self, workspace_handle: &str) -> String {
        format!("/w/{workspace_handle}/approvals")
    }

    fn invitation(&self, token: &str) -> String {
        format!("{}/invite/{token}", self.public_url)
    }
}
