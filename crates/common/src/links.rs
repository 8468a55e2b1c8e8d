//! Links into the web console. The server owns its routes and public URL and hands domain
//! code a [`Links`]; domain crates ask for a link instead of formatting one.

pub trait Links: Send + Sync {
    /// An agent's page (a path: `/w/<ws>/agents/<handle>-<id>`).
    fn agent(&self, workspace_handle: &str, agent_handle: &str, agent_id: &str) -> String;
    /// A session's live page, absolute: humans open it from wherever the agent shares it.
    fn session(&self, workspace_handle: &str, session_id: &str) -> String;
    /// The approvals inbox of a workspace (a path).
    fn approvals(&self, workspace_handle: &str) -> String;
    /// Where an invitation is accepted, absolute: it is sent to someone.
    fn invitation(&self, token: &str) -> String;
}
