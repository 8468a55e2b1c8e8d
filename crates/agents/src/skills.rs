//! Skills: named instruction bundles stored in the workspace and attached to agents. An
//! agent's chat turns read the instructions of every skill attached to it, after the
//! agent's own.

use andibase_common::serde_util::double_option;
use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::{params, record_event, Database, Row, Sql, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A workspace holds at most this many skills (every turn reads them).
const MAX_SKILLS: i64 = 500;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub instructions: String,
    /// The agents it is attached to.
    pub agent_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /api/v1/skills`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSkill {
    /// 1 to 100 characters, unique in the workspace.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Markdown, 1 to 100,000 characters.
    pub instructions: String,
    /// Agents (ids or handles) to attach it to.
    #[serde(default)]
    pub agent_ids: Vec<String>,
}

/// `PATCH /api/v1/skills/{id}`: the fields given change.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSkill {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
}

const COLUMNS: &str = "id, name, description, instructions, agent_ids, created_at, updated_at";

fn from_row(r: &Row) -> DomainResult<Skill> {
    Ok(Skill {
        id: r.text(0)?,
        name: r.text(1)?,
        description: r.opt_text(2)?,
        instructions: r.text(3)?,
        agent_ids: serde_json::from_value(r.json(4)?).unwrap_or_default(),
        created_at: r.time(5)?,
        updated_at: r.time(6)?,
    })
}

fn check_text(issues: &mut Vec<FieldIssue>, field: &str, value: &str, max: usize) {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        issues.push(FieldIssue::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
}

/// Agent ids or handles as agent ids; unknown ones are field issues.
fn resolve_agents(
    tx: &Tx<'_>,
    keys: &[String],
    issues: &mut Vec<FieldIssue>,
) -> DomainResult<Vec<String>> {
    let mut ids = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match tx.query_one(
            "SELECT id FROM agents WHERE id = ? OR handle = ?",
            &params![key.clone(), key.clone()],
        )? {
            Some(r) => {
                let id = r.text(0)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            None => issues.push(FieldIssue::at(
                vec![json!("agentIds"), json!(i)],
                format!("no agent `{key}` in this workspace"),
            )),
        }
    }
    Ok(ids)
}

fn conflict(name: &str) -> DomainError {
    DomainError::Conflict {
        message: format!("a skill named `{name}` exists"),
        column: Some("name".into()),
    }
}

pub struct Skills<'a> {
    pub db: &'a Database,
}

impl Skills<'_> {
    pub async fn list(&self) -> DomainResult<Vec<Skill>> {
        self.db
            .read(|r| {
                r.query(&format!("SELECT {COLUMNS} FROM skills ORDER BY name"), &[])?
                    .iter()
                    .map(from_row)
                    .collect()
            })
            .await
    }

    pub async fn get(&self, id: &str) -> DomainResult<Skill> {
        let id = id.to_string();
        self.db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {COLUMNS} FROM skills WHERE id = ? OR name = ?"),
                    &params![id.clone(), id],
                )?
                .as_ref()
                .map(from_row)
                .transpose()?
                .ok_or(DomainError::NotFound)
            })
            .await
    }

    /// The skills attached to one agent, by name.
    pub async fn of_agent(&self, agent_id: &str) -> DomainResult<Vec<Skill>> {
        let agent = agent_id.to_string();
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|s| s.agent_ids.contains(&agent))
            .collect())
    }

    pub async fn create(
        &self,
        input: CreateSkill,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<Skill> {
        let mut issues = Vec::new();
        check_text(&mut issues, "name", &input.name, 100);
        check_text(&mut issues, "instructions", &input.instructions, 100_000);
        if let Some(d) = &input.description {
            if d.chars().count() > 2000 {
                issues.push(FieldIssue::new(
                    "description",
                    "must be at most 2000 characters",
                ));
            }
        }
        let actor = actor.map(str::to_string);
        self.db
            .write(move |tx| {
                let agent_ids = resolve_agents(tx, &input.agent_ids, &mut issues)?;
                if !issues.is_empty() {
                    return Err(DomainError::from_issues(issues));
                }
                let name = input.name.trim().to_string();
                if tx
                    .query_one(
                        "SELECT 1 FROM skills WHERE name = ?",
                        &params![name.clone()],
                    )?
                    .is_some()
                {
                    return Err(conflict(&name));
                }
                let count = tx
                    .query_one("SELECT count(*) FROM skills", &[])?
                    .map_or(Ok(0), |r| r.int(0))?;
                if count >= MAX_SKILLS {
                    return Err(DomainError::invalid(
                        "name",
                        format!("a workspace holds at most {MAX_SKILLS} skills"),
                    ));
                }
                let skill = Skill {
                    id: id::prefixed("skill"),
                    name,
                    description: input.description.filter(|d| !d.trim().is_empty()),
                    instructions: input.instructions.trim().to_string(),
                    agent_ids,
                    created_at: now,
                    updated_at: now,
                };
                tx.execute(
                    &format!("INSERT INTO skills ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                    &params![
                        skill.id.clone(),
                        skill.name.clone(),
                        skill.description.clone(),
                        skill.instructions.clone(),
                        json!(skill.agent_ids).to_string(),
                        now,
                        now
                    ],
                )?;
                record_event(
                    tx,
                    "skill.created",
                    &skill.id,
                    actor.as_deref(),
                    &json!({"name": skill.name}),
                    now,
                )?;
                Ok(skill)
            })
            .await
    }

    pub async fn update(
        &self,
        id: &str,
        input: UpdateSkill,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<Skill> {
        let mut issues = Vec::new();
        if let Some(n) = &input.name {
            check_text(&mut issues, "name", n, 100);
        }
        if let Some(i) = &input.instructions {
            check_text(&mut issues, "instructions", i, 100_000);
        }
        if let Some(Some(d)) = &input.description {
            if d.chars().count() > 2000 {
                issues.push(FieldIssue::new(
                    "description",
                    "must be at most 2000 characters",
                ));
            }
        }
        let (key, actor) = (id.to_string(), actor.map(str::to_string));
        self.db
            .write(move |tx| {
                let mut skill = tx
                    .query_one(&format!("SELECT {COLUMNS} FROM skills WHERE id = ? OR name = ?"), &params![key.clone(), key])?
                    .as_ref()
                    .map(from_row)
                    .transpose()?
                    .ok_or(DomainError::NotFound)?;
                if let Some(keys) = &input.agent_ids {
                    skill.agent_ids = resolve_agents(tx, keys, &mut issues)?;
                }
                if !issues.is_empty() {
                    return Err(DomainError::from_issues(issues));
                }
                if let Some(n) = input.name {
                    let n = n.trim().to_string();
                    if n != skill.name
                        && tx.query_one("SELECT 1 FROM skills WHERE name = ?", &params![n.clone()])?.is_some()
                    {
                        return Err(conflict(&n));
                    }
                    skill.name = n;
                }
                if let Some(d) = input.description {
                    skill.description = d.filter(|d| !d.trim().is_empty());
                }
                if let Some(i) = input.instructions {
                    skill.instructions = i.trim().to_string();
                }
                skill.updated_at = now;
                tx.execute(
                    "UPDATE skills SET name = ?, description = ?, instructions = ?, agent_ids = ?, updated_at = ? WHERE id = ?",
                    &params![
                        skill.name.clone(), skill.description.clone(), skill.instructions.clone(),
                        json!(skill.agent_ids).to_string(), now, skill.id.clone()
                    ],
                )?;
                record_event(tx, "skill.updated", &skill.id, actor.as_deref(), &json!({"name": skill.name}), now)?;
                Ok(skill)
            })
            .await
    }

    pub async fn delete(&self, id: &str, actor: Option<&str>, now: Timestamp) -> DomainResult<()> {
        let (key, actor) = (id.to_string(), actor.map(str::to_string));
        self.db
            .write(move |tx| {
                let Some(row) = tx.query_one(
                    "SELECT id FROM skills WHERE id = ? OR name = ?",
                    &params![key.clone(), key],
                )?
                else {
                    return Err(DomainError::NotFound);
                };
                let id = row.text(0)?;
                tx.execute("DELETE FROM skills WHERE id = ?", &params![id.clone()])?;
                record_event(tx, "skill.deleted", &id, actor.as_deref(), &json!({}), now)
            })
            .await
    }
}
