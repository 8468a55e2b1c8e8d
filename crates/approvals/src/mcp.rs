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

/// Calls a tool as `agent_id` in the workspace; answers the JSON the tool returns.
pub async fn call(
    approvals: &Arc<Approvals>,
    workspace_id: &str,
    workspace_handle: &str,
    agent_id: &str,
    key_id: Option<&str>,
    members: Vec<String>,
    name: &str,
    args: Value,
) -> DomainResult<Value> {
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
