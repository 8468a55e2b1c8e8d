//! The model-backed agents of formation, recall and maintenance (brain-kip §10): a tool
//! loop (`andibase_llm::run_tools`) whose one tool runs KIP on the space's graph. The
//! system prompt is the role's instructions, the KIP card, the live `DESCRIBE PRIMER`,
//! the counterparty's Person node and the current time. Recall's tool is read-only;
//! formation's and maintenance's writes stop at the tier's allowance.
//!
//! A space's model is its BYOK configuration when set and enabled, else the server's
//! default model; with neither, the model-free paths run.

use std::time::Duration;

use andibase_common::{DomainError, DomainResult};
use andibase_kip::{Mode, Request};
use andibase_llm::{self as llm, Limits, ToolOutput};
use serde_json::{json, Value};

use crate::conversations::{kip_result, run_kip};
use crate::{Memory, Space};

const KIP_CARD: &str = include_str!("prompts/kip.md");
const FORMATION_PROMPT: &str = include_str!("prompts/formation.md");
const RECALL_PROMPT: &str = include_str!("prompts/recall.md");
const MAINTENANCE_PROMPT: &str = include_str!("prompts/maintenance.md");
/// A tool answer longer than this is cut (the model is told), to keep the context.
const TOOL_ANSWER_CHARS: usize = 24_000;
const PRIMER_CHARS: usize = 8_000;

/// Which agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agent {
    Formation,
    Recall,
    Maintenance,
}

impl Agent {
    fn prompt(self) -> &'static str {
        match self {
            Agent::Formation => FORMATION_PROMPT,
            Agent::Recall => RECALL_PROMPT,
            Agent::Maintenance => MAINTENANCE_PROMPT,
        }
    }

    fn mode(self) -> Mode {
        match self {
            Agent::Recall => Mode::ReadOnly,
            _ => Mode::ReadWrite,
        }
    }

    fn tool(self) -> llm::Tool {
        let (name, what) = match self {
            Agent::Recall => ("execute_kip_readonly", "Runs KIP queries (KQL and META: FIND, SEARCH, DESCRIBE) on the memory graph. Writes are refused."),
            _ => ("execute_kip", "Runs KIP commands (KQL, KML and META) on the memory graph; a KML statement is one transaction."),
        };
        llm::Tool {
            name: name.into(),
            description: what.into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "One KIP command."},
                    "commands": {"type": "array", "description": "Several commands, run in order (strings, or {command, parameters}).",
                        "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
                    "parameters": {"type": "object", "description": "Values for the :name placeholders."},
                    "dry_run": {"type": "boolean"}
                }
            }),
        }
    }

    /// The reference's budgets: recall 7 turns in 180 s; formation and maintenance more.
    fn limits(self) -> Limits {
        let (max_turns, secs) = match self {
            Agent::Formation => (24, 300),
            Agent::Recall => (7, 180),
            Agent::Maintenance => (40, 600),
        };
        Limits {
            max_turns,
            budget: Duration::from_secs(secs),
            stream: false,
        }
    }
}

/// What an agent did: its answer, its messages in seed 003's `Message` form, and usage.
pub(crate) struct AgentRun {
    pub text: String,
    pub messages: Vec<Value>,
    pub usage: Value,
}

fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}\n… (cut at {max} characters; ask for less, with LIMIT or fewer fields)")
}

/// Refuses a writing request once the graph holds `allowance` concepts (the tier's).
pub(crate) fn within_allowance(
    graph: &andibase_kip::Graph,
    allowance: i64,
    request: &Request,
) -> Result<(), String> {
    if !writes(request) {
        return Ok(());
    }
    match graph.counts() {
        Ok((concepts, _)) if concepts >= allowance => Err(format!(
            "the space holds {concepts} concepts, the most its tier allows ({allowance}); nothing more can be written"
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether a request may write (so the tier's allowance applies).
fn writes(request: &Request) -> bool {
    let texts = request
        .command
        .iter()
        .cloned()
        .chain(request.commands.iter().flatten().map(|c| match c {
            andibase_kip::CommandItem::Text(t) => t.clone(),
            andibase_kip::CommandItem::WithParameters { command, .. } => command.clone(),
        }));
    texts.into_iter().any(|t| {
        let t = t.trim_start().to_ascii_uppercase();
        t.starts_with("UPSERT") || t.starts_with("MERGE")
    })
}

impl Memory {
    /// The model a space's agents use, if any.
    pub(crate) async fn model_for(&self, space: &Space) -> DomainResult<Option<llm::Model>> {
        let byok = match space.has_byok {
            true => self.byok(space).await?,
            false => None,
        };
        if let Some(config) = byok {
            if !config.disabled {
                let mut model = llm::Model::new(
                    llm::Endpoint::byok(
                        &config.family,
                        &config.api_base,
                        &config.api_key,
                        self.outbound,
                    ),
                    config.model.clone(),
                );
                if let Some(n) = config.max_output.filter(|n| *n > 0) {
                    model.max_output = n.min(u32::MAX as i64) as u32;
                }
                if let Some(n) = config.context_window.filter(|n| *n > 0) {
                    model.context_window = n.min(u32::MAX as i64) as u32;
                }
                if let Some(p) = &self.models {
                    model.settings = p.settings;
                }
                return Ok(Some(model));
            }
        }
        match &self.models {
            Some(p) if p.default_model_name().is_some() => {
                p.default_model().map(Some).map_err(DomainError::from)
            }
            _ => Ok(None),
        }
    }

    /// Runs `agent` on `space` with `input` as the user's message.
    pub(crate) async fn run_agent(
        &self,
        space: &Space,
        model: llm::Model,
        agent: Agent,
        input: String,
        counterparty: Option<String>,
    ) -> DomainResult<AgentRun> {
        let graph = self.graph(space).await?;
        let now = self.clock.now().to_iso();
        let allowance = space.allowance();
        tokio::task::spawn_blocking(move || {
            let primer = run_kip(&graph, "DESCRIBE PRIMER", json!({}), Mode::ReadOnly)
                .and_then(kip_result)
                .map(|v| cut(v.to_string(), PRIMER_CHARS))
                .unwrap_or_else(|e| format!("(unavailable: {e})"));
            let who = match &counterparty {
                Some(name) => {
                    let node = run_kip(
                        &graph,
                        "FIND(?p) WHERE { ?p {type: \"Person\", name: :name} }",
                        json!({"name": name}),
                        Mode::ReadOnly,
                    )
                    .and_then(kip_result)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| "not in memory yet".into());
                    format!("## The counterparty\n`{name}`: {node}")
                }
                None => "## The counterparty\nnone given".into(),
            };
            let system = format!(
                "{}\n\n{KIP_CARD}\n## The memory now (DESCRIBE PRIMER)\n{primer}\n\n{who}\n\n## Now\n{now}",
                agent.prompt()
            );
            let request = llm::Request {
                system,
                messages: vec![llm::Message::user(input)],
                tools: vec![agent.tool()],
                tool_choice: llm::ToolChoice::Auto,
                temperature: None,
            };
            let mode = agent.mode();
            let mut call = |c: &llm::ToolCall| -> ToolOutput {
                let request: Request = match serde_json::from_value(c.arguments.clone()) {
                    Ok(r) => r,
                    Err(e) => {
                        return ToolOutput::error(format!(
                            "the arguments are not a KIP request ({{command | commands, parameters, dry_run}}): {e}"
                        ))
                    }
                };
                if mode == Mode::ReadWrite {
                    if let Err(why) = within_allowance(&graph, allowance, &request) {
                        return ToolOutput::error(why);
                    }
                }
                let envelope = graph.execute(request, mode);
                let failed = envelope.get("error").is_some();
                let text = cut(envelope.to_string(), TOOL_ANSWER_CHARS);
                if failed {
                    ToolOutput::error(text)
                } else {
                    ToolOutput::ok(text)
                }
            };
            llm::run_tools(
                &model,
                request,
                agent.limits(),
                &mut call,
                &mut |_| {},
                &mut |_, _| {},
            )
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))?
        .map_err(DomainError::from)
        .map(|run| AgentRun {
            messages: run.messages.iter().map(seed_message).collect(),
            usage: json!({
                "input_tokens": run.usage.input_tokens,
                "output_tokens": run.usage.output_tokens,
                "cached_tokens": run.usage.cached_tokens,
                "requests": run.usage.requests,
            }),
            text: if run.out_of_time && run.text.is_empty() {
                "Status: partial\nSummary: the time budget ran out".into()
            } else {
                run.text
            },
        })
    }
}

/// A model's message as seed 003 lists a conversation's messages.
fn seed_message(m: &llm::Message) -> Value {
    match m.role {
        llm::Role::Tool => json!({
            "role": "tool",
            "content": m.text,
            "tool_call_id": m.tool_call_id,
            "is_error": m.is_error,
        }),
        role => {
            let mut out = json!({
                "role": if role == llm::Role::User { "user" } else { "assistant" },
                "content": m.text,
            });
            if !m.tool_calls.is_empty() {
                out["tool_calls"] = json!(m
                    .tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
                    .collect::<Vec<_>>());
            }
            out
        }
    }
}
