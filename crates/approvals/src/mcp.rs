//! The approval tools, ready for the MCP endpoint to mount: `request_human_approval`
//! and `get_approval_result`, with JSON-Schema inputs (as FinalSay's MCP bridge has them;
//! MCP calls never set `timeout`, so the agent's defaults apply).

use std::sync::Arc;

use andibase_common::{DomainError, DomainResult};
use serde_json::{json, Value};

use crate::model::CreateApproval;
use crate::service::Approvals;

/// Tool descriptors: `[{name, description, inputSchema}]`.
pub fn tools() -> Value {
    json!([
        {
            "name": "request_human_approval",
            "description": "Ask a human to approve a step before you take it. Returns the approval with its request_id; then call get_approval_result.",
            "inputSchema": {
                "type": "object",
                "required": ["question", "context_markdown", "options"],
                "additionalProperties": false,
                "properties": {
                    "question": {"type": "string", "minLength": 1, "maxLength": 1000},
                    "context_markdown": {"type": "string", "maxLength": 20480},
                    "options": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
                        "type": "object", "required": ["label", "value"], "additionalProperties": false,
                        "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 100}, "value": {"type": "string", "minLength": 1, "maxLength": 200}}
                    }},
                    "request_id": {"type": "string"},
                    "correlation_id": {"type": "string"},
                    "notification_summary": {"type": "string", "maxLength": 200},
                    "callback": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}, "headers": {"type": "object", "additionalProperties": {"type": "string"}}}}
                }
            }
        },
        {
            "name": "get_approval_result",
            "description": "Get the outcome of an approval: status pending, selected_option, custom_instruction or expired. wait_seconds (0-60) waits for a human decision.",
            "inputSchema": {
                "type": "object",
                "required": ["request_id"],
                "additionalProperties": false,
                "properties": {"request_id": {"type": "string"}, "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 60}}
            }
        }
    ])
}

/// Who calls a tool: an agent, through one of its keys, in a workspace.
pub struct Caller<'a> {
    pub workspace_id: &'a str,
    pub workspace_handle: &'a str,
    pub agent_id: &'a str,
    pub key_id: Option<&'a str>,
    /// The workspace's members, who may be asked.
    pub members: Vec<String>,
}

/// Calls a tool as the caller's agent; answers the JSON the tool returns.
pub async fn call(
    approvals: &Arc<Approvals>,
    caller: Caller<'_>,
    name: &str,
    args: Value,
) -> DomainResult<Value> {
    let Caller {
        workspace_id,
        workspace_handle,
        agent_id,
        key_id,
        members,
    } = caller;
    match name {
        "request_human_approval" => {
            if args.get("timeout").is_some() {
                return Err(DomainError::invalid(
                    "timeout",
                    "MCP calls use the agent's timeout settings",
                ));
            }
            let input: CreateApproval = serde_json::from_value(args)
                .map_err(|e| DomainError::invalid("arguments", e.to_string()))?;
            let (a, _) = approvals
                .create(
                    workspace_id,
                    workspace_handle,
                    agent_id,
                    key_id,
                    input,
                    members,
                )
                .await?;
            Ok(a.record_json(false))
        }
        "get_approval_result" => {
            let id = args["request_id"]
                .as_str()
                .ok_or_else(|| DomainError::invalid("request_id", "is required"))?;
            let wait = args["wait_seconds"].as_u64().unwrap_or(0).min(60);
            let a = approvals
                .wait_for_result(workspace_id, id, std::time::Duration::from_secs(wait))
                .await?;
            if a.agent_id != agent_id {
                return Err(DomainError::NotFound);
            }
            Ok(a.result_json())
        }
        _ => Err(DomainError::invalid("name", format!("unknown tool {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andibase_common::Clock;
    use andibase_storage::WorkspaceDatabases;

    /// The approvals crate only ever links to the inbox.
    struct InboxOnly;

    impl andibase_common::Links for InboxOnly {
        fn agent(&self, _: &str, _: &str, _: &str) -> String {
            unreachable!("approvals link only to the inbox")
        }
        fn session(&self, _: &str, _: &str) -> String {
            unreachable!("approvals link only to the inbox")
        }
        fn approvals(&self, ws: &str) -> String {
            format!("/w/{ws}/approvals")
        }
        fn invitation(&self, _: &str) -> String {
            unreachable!("approvals link only to the inbox")
        }
    }

    fn as_agent<'a>(ws: &'a str, agent_id: &'a str) -> Caller<'a> {
        Caller {
            workspace_id: ws,
            workspace_handle: "acme",
            agent_id,
            key_id: None,
            members: vec![],
        }
    }

    #[tokio::test]
    async fn the_tools_create_and_read_approvals_with_the_agents_defaults() {
        let dir = andibase_common::temp::TempDir::new("mcp");
        let workspaces = Arc::new(WorkspaceDatabases::new(dir.path().to_path_buf()));
        let ws = "0190e2a0-0000-7000-8000-0000000000aa";
        let db = workspaces.get(ws).await.unwrap();
        db.write(|tx| {
            andibase_storage::Sql::execute(tx, "INSERT INTO agents (id, handle, name, created_at, updated_at) VALUES ('agent-1', 'bot', 'Bot', 0, 0)", &[])
        })
        .await
        .unwrap();
        let approvals = Arc::new(Approvals::new(
            crate::ApprovalsParts {
                workspaces: workspaces.clone(),
                scheduler: Arc::new(andibase_jobs::Scheduler::default()),
                vault: andibase_vault::Vault::from_key([1; 32]),
                clock: Clock::system(),
                bus: andibase_events::EventBus::new(workspaces),
                links: Arc::new(InboxOnly),
            },
            Default::default(),
        ));
        let descriptors = tools();
        let names: Vec<&str> = descriptors
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["request_human_approval", "get_approval_result"]);

        let args = json!({"question": "Ship it?", "context_markdown": "", "options": [{"label": "Yes", "value": "yes"}]});
        let created = call(
            &approvals,
            as_agent(ws, "agent-1"),
            "request_human_approval",
            args.clone(),
        )
        .await
        .unwrap();
        assert_eq!(created["status"], "pending");
        assert_eq!(
            created["timeout"]["seconds"], 86_400,
            "the agent's defaults apply"
        );
        let id = created["request_id"].as_str().unwrap();
        let result = call(
            &approvals,
            as_agent(ws, "agent-1"),
            "get_approval_result",
            json!({"request_id": id}),
        )
        .await
        .unwrap();
        assert_eq!(result, json!({"request_id": id, "status": "pending"}));

        let mut with_timeout = args.clone();
        with_timeout["timeout"] = json!({"seconds": 60});
        assert!(call(
            &approvals,
            as_agent(ws, "agent-1"),
            "request_human_approval",
            with_timeout
        )
        .await
        .is_err());
        assert!(
            call(
                &approvals,
                as_agent(ws, "agent-2"),
                "get_approval_result",
                json!({"request_id": id})
            )
            .await
            .is_err(),
            "another agent's approval is not found"
        );
        assert!(call(&approvals, as_agent(ws, "agent-1"), "nope", json!({}))
            .await
            .is_err());
    }
}
