//! The workspace agents registry (seed 001): saved agent definitions with a handle,
//! instructions, a model string and capability flags; their chats (`chats`), the skills
//! attached to them (`skills`) and the credentials they reach services with
//! (`credentials`).

pub mod chats;
pub mod credentials;
pub mod skills;

use andibase_common::serde_util::double_option;
use std::sync::Arc;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Links, Timestamp};
use andibase_storage::{params, record_event, Database, Row, Sql};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilities {
    pub web_access: bool,
    pub browser_access: bool,
    pub objects_access: bool,
    pub linked_credential_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentCapabilitiesInput {
    #[serde(default)]
    pub web_access: Option<bool>,
    #[serde(default)]
    pub browser_access: Option<bool>,
    #[serde(default)]
    pub objects_access: Option<bool>,
    #[serde(default)]
    pub linked_credential_ids: Option<Vec<String>>,
}

/// Workspace-scoped agent definition.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub handle: String,
    pub url: String,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub model: Option<String>,
    pub capabilities: AgentCapabilities,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Agent metadata without long-form instructions.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub handle: String,
    pub url: String,
    pub description: Option<String>,
    pub model: Option<String>,
    pub capabilities: AgentCapabilities,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Agent> for AgentSummary {
    fn from(a: Agent) -> AgentSummary {
        AgentSummary {
            id: a.id,
            name: a.name,
            handle: a.handle,
            url: a.url,
            description: a.description,
            model: a.model,
            capabilities: a.capabilities,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Payload for creating a workspace agent.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAgentInput {
    pub name: String,
    pub handle: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub capabilities: Option<AgentCapabilitiesInput>,
}

/// Payload for updating a workspace agent; absent fields stay, `null` clears.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAgentInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub instructions: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    #[serde(default)]
    pub capabilities: Option<AgentCapabilitiesInput>,
}

const COLUMNS: &str = "id, handle, name, description, instructions, model, web_access, browser_access, objects_access, linked_credential_ids, created_at, updated_at";

fn agent_from_row(r: &Row, workspace_handle: &str, links: &dyn Links) -> DomainResult<Agent> {
    let id = r.text(0)?;
    let handle = r.text(1)?;
    Ok(Agent {
        url: links.agent(workspace_handle, &handle, &id),
        id,
        handle,
        name: r.text(2)?,
        description: r.opt_text(3)?,
        instructions: r.opt_text(4)?,
        model: r.opt_text(5)?,
        capabilities: AgentCapabilities {
            web_access: r.bool(6)?,
            browser_access: r.bool(7)?,
            objects_access: r.bool(8)?,
            linked_credential_ids: serde_json::from_value(r.json(9)?)
                .map_err(|e| DomainError::Internal(e.to_string()))?,
        },
        created_at: r.time(10)?,
        updated_at: r.time(11)?,
    })
}

/// Collects every rule an agent's fields break, so one response names them all.
#[derive(Default)]
struct Checks(Vec<FieldIssue>);

impl Checks {
    fn text(&mut self, field: &str, value: Option<&str>, max: usize, non_empty: bool) {
        if let Some(v) = value {
            if non_empty && v.trim().is_empty() {
                self.0.push(FieldIssue::new(field, "must not be empty"));
            } else if v.chars().count() > max {
                self.0.push(FieldIssue::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
        }
    }

    fn capabilities(&mut self, c: Option<&AgentCapabilitiesInput>) {
        let ids = c.and_then(|c| c.linked_credential_ids.as_ref());
        for (i, id) in ids.into_iter().flatten().enumerate() {
            if id.trim().is_empty() {
                let path = [
                    serde_json::json!("capabilities"),
                    serde_json::json!("linkedCredentialIds"),
                    serde_json::json!(i),
                ];
                self.0
                    .push(FieldIssue::at(path, "must be a non empty string"));
            }
        }
    }

    fn finish(self) -> DomainResult<()> {
        FieldIssue::none_of(self.0)
    }
}

fn merge(caps: &mut AgentCapabilities, input: Option<AgentCapabilitiesInput>) {
    if let Some(c) = input {
        caps.web_access = c.web_access.unwrap_or(caps.web_access);
        caps.browser_access = c.browser_access.unwrap_or(caps.browser_access);
        caps.objects_access = c.objects_access.unwrap_or(caps.objects_access);
        if let Some(ids) = c.linked_credential_ids {
            caps.linked_credential_ids = ids;
        }
    }
}

/// Accepts an id, a handle, or a name-id slug (`support-assistant-<uuid>`).
fn lookup_keys(key: &str) -> (String, String) {
    let id = if key.len() > 37 && key.as_bytes()[key.len() - 37] == b'-' {
        key[key.len() - 36..].to_string()
    } else {
        key.to_string()
    };
    (id, key.to_string())
}

fn find(r: &impl Sql, key: &str, workspace_handle: &str, links: &dyn Links) -> DomainResult<Agent> {
    let (id, handle) = lookup_keys(key);
    r.query_one(
        &format!(
            "SELECT {COLUMNS} FROM agents WHERE id = ? OR handle = ? ORDER BY id = ? DESC LIMIT 1"
        ),
        &params![&id, &handle, &id],
    )?
    .map(|row| agent_from_row(&row, workspace_handle, links))
    .transpose()?
    .ok_or(DomainError::NotFound)
}

fn to_json(caps: &AgentCapabilities) -> String {
    serde_json::Value::from(caps.linked_credential_ids.clone()).to_string()
}

/// The agents of one workspace, over that workspace's database.
pub struct Agents<'a> {
    pub db: &'a Database,
    pub workspace_handle: &'a str,
    pub links: Arc<dyn Links>,
}

impl Agents<'_> {
    pub async fn list(&self) -> DomainResult<Vec<AgentSummary>> {
        let (ws, links) = (self.workspace_handle.to_string(), self.links.clone());
        self.db
            .read(move |r| {
                r.query(
                    &format!("SELECT {COLUMNS} FROM agents ORDER BY created_at, id"),
                    &[],
                )?
                .iter()
                .map(|row| agent_from_row(row, &ws, &*links).map(AgentSummary::from))
                .collect()
            })
            .await
    }

    pub async fn get(&self, key: &str) -> DomainResult<Agent> {
        let (ws, key, links) = (
            self.workspace_handle.to_string(),
            key.to_string(),
            self.links.clone(),
        );
        self.db.read(move |r| find(r, &key, &ws, &*links)).await
    }

    pub async fn create(
        &self,
        input: CreateAgentInput,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<Agent> {
        let mut checks = Checks::default();
        checks.text("name", Some(&input.name), 200, true);
        if !id::is_valid_handle(&input.handle) {
            checks.0.push(FieldIssue::new(
                "handle",
                "must be 1 to 64 characters of a-z, 0-9 and inner dashes (for example support-assistant)",
            ));
        }
        checks.text("description", input.description.as_deref(), 2000, false);
        checks.text(
            "instructions",
            input.instructions.as_deref(),
            100_000,
            false,
        );
        checks.text("model", input.model.as_deref(), 200, true);
        checks.capabilities(input.capabilities.as_ref());
        checks.finish()?;
        let mut capabilities = AgentCapabilities::default();
        merge(&mut capabilities, input.capabilities);
        let id = id::uuid7();
        let agent = Agent {
            url: self.links.agent(self.workspace_handle, &input.handle, &id),
            id,
            name: input.name.trim().to_string(),
            handle: input.handle,
            description: input.description,
            instructions: input.instructions,
            model: input.model,
            capabilities,
            created_at: now,
            updated_at: now,
        };
        let (a, actor) = (agent.clone(), actor.map(str::to_string));
        self.db
            .write(move |tx| {
                tx.execute(
                    &format!("INSERT INTO agents ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &params![
                        &a.id, &a.handle, &a.name, a.description.clone(), a.instructions.clone(), a.model.clone(),
                        a.capabilities.web_access, a.capabilities.browser_access, a.capabilities.objects_access,
                        to_json(&a.capabilities), now, now
                    ],
                )?;
                record_event(tx, "agent.created", &a.id, actor.as_deref(), &serde_json::json!({"handle": a.handle}), now)
            })
            .await
            .map_err(|e| match e {
                DomainError::Conflict { .. } => DomainError::Invalid {
                    message: format!("handle: `{}` is already used by another agent in this workspace", agent.handle),
                    issues: vec![FieldIssue::new("handle", "is already used by another agent in this workspace")],
                },
                other => other,
            })?;
        Ok(agent)
    }

    pub async fn update(
        &self,
        key: &str,
        input: UpdateAgentInput,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<Agent> {
        let mut checks = Checks::default();
        checks.text("name", input.name.as_deref(), 200, true);
        checks.text(
            "description",
            input.description.as_ref().and_then(|d| d.as_deref()),
            2000,
            false,
        );
        checks.text(
            "instructions",
            input.instructions.as_ref().and_then(|d| d.as_deref()),
            100_000,
            false,
        );
        checks.text(
            "model",
            input.model.as_ref().and_then(|d| d.as_deref()),
            200,
            true,
        );
        checks.capabilities(input.capabilities.as_ref());
        checks.finish()?;
        let (ws, key, actor, links) = (
            self.workspace_handle.to_string(),
            key.to_string(),
            actor.map(str::to_string),
            self.links.clone(),
        );
        self.db
            .write(move |tx| {
                let mut a = find(tx, &key, &ws, &*links)?;
                if let Some(n) = input.name {
                    a.name = n.trim().to_string();
                }
                if let Some(d) = input.description {
                    a.description = d;
                }
                if let Some(i) = input.instructions {
                    a.instructions = i;
                }
                if let Some(m) = input.model {
                    a.model = m;
                }
                merge(&mut a.capabilities, input.capabilities);
                a.updated_at = now;
                tx.execute(
                    "UPDATE agents SET name = ?, description = ?, instructions = ?, model = ?, web_access = ?, browser_access = ?, \
                     objects_access = ?, linked_credential_ids = ?, updated_at = ? WHERE id = ?",
                    &params![
                        &a.name, a.description.clone(), a.instructions.clone(), a.model.clone(),
                        a.capabilities.web_access, a.capabilities.browser_access, a.capabilities.objects_access,
                        to_json(&a.capabilities), now, &a.id
                    ],
                )?;
                record_event(tx, "agent.updated", &a.id, actor.as_deref(), &serde_json::json!({}), now)?;
                Ok(a)
            })
            .await
    }

    pub async fn delete(&self, key: &str, actor: Option<&str>, now: Timestamp) -> DomainResult<()> {
        let (ws, key, actor, links) = (
            self.workspace_handle.to_string(),
            key.to_string(),
            actor.map(str::to_string),
            self.links.clone(),
        );
        self.db
            .write(move |tx| {
                let a = find(tx, &key, &ws, &*links)?;
                tx.execute("DELETE FROM agents WHERE id = ?", &params![&a.id])?;
                record_event(
                    tx,
                    "agent.deleted",
                    &a.id,
                    actor.as_deref(),
                    &serde_json::json!({"handle": a.handle}),
                    now,
                )
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_resolve_to_ids() {
        let id = "0c65de2d-728a-4d72-9f4f-9f0d42cfc705";
        assert_eq!(lookup_keys(&format!("support-assistant-{id}")).0, id);
        assert_eq!(lookup_keys(id).0, id);
        assert_eq!(lookup_keys("support-assistant").0, "support-assistant");
    }
}
