//! The workspace tool registry for one caller: what a chat turn and an MCP request both
//! build from the caller's workspace access.

use andibase_tools::{ApprovalTools, WorkspaceTools};

use crate::extract::WorkspaceAccess;
use crate::state::AppState;

/// How long `request_human_approval` waits for the decision.
pub(crate) const APPROVAL_WAIT: std::time::Duration = std::time::Duration::from_secs(150);

/// The caller's tools on their workspace. With `agent_id`, the approval tools ask as that
/// agent; the web, remote servers and session tools are for the surface to add.
pub(crate) async fn workspace_tools(
    state: &AppState,
    ws: &WorkspaceAccess,
    db: andibase_storage::Database,
    agent_id: Option<String>,
) -> WorkspaceTools {
    let approvals = match agent_id {
        Some(agent_id) => Some(ApprovalTools {
            service: state.approvals.clone(),
            workspace_id: ws.workspace.id.clone(),
            workspace_handle: ws.workspace.handle.clone(),
            agent_id,
            key_id: ws.key_id.clone(),
            members: crate::agent_api::member_ids(state, &ws.workspace).await,
            wait: APPROVAL_WAIT,
            progress: None,
        }),
        None => None,
    };
    WorkspaceTools {
        db,
        workspace_handle: ws.workspace.handle.clone(),
        hooks: state.data_hooks.clone(),
        definitions: state.definitions.clone(),
        usage: state.query_log.clone(),
        access: ws.access,
        role: ws.role(),
        actor: ws.actor(),
        clock: state.clock.clone(),
        approvals,
        memory: Some(state.memory.clone()),
        workspace_id: ws.workspace.id.clone(),
        web: None,
        remote: Vec::new(),
        sessions: None,
    }
}
