//! The workspace's things as addressable resources (MCP resources): each data definition,
//! each record, each memory space's summary, by URI, within the caller's access.
//!
//! - `andibase://data-definitions/{handle}`: the definition with its fields;
//! - `andibase://data-definitions/{handle}/records/{id}`: one live record (hidden fields
//!   left out for the caller's role, as over HTTP);
//! - `andibase://memory/{space_id}`: a memory space's summary (`info`).

use andibase_common::DomainError;
use andibase_identity::Resource;
use serde_json::{json, Value};

use crate::WorkspaceTools;

const SCHEME: &str = "andibase://";

/// A resource as a client lists it.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub uri: String,
    pub name: String,
    pub description: Option<String>,
}

/// The URI templates a client fills in: `(template, name, description)`.
pub fn resource_templates() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "andibase://data-definitions/{handle}",
            "Data definition",
            "A data definition with its fields.",
        ),
        (
            "andibase://data-definitions/{handle}/records/{id}",
            "Record",
            "One live record of a data definition.",
        ),
        (
            "andibase://memory/{space_id}",
            "Memory space",
            "A memory space's summary: concepts, propositions, conversations, tier.",
        ),
    ]
}

impl WorkspaceTools {
    /// The resources this caller may read: every definition (with `data.read`) and every
    /// memory space of the workspace (with `memory.read`). Records are reached by template.
    pub async fn resources(&self) -> Result<Vec<ResourceInfo>, DomainError> {
        let mut out = Vec::new();
        if self.access.allows(Resource::Data.read()) {
            for d in self.data().list_definitions().await? {
                out.push(ResourceInfo {
                    uri: format!("{SCHEME}data-definitions/{}", d.handle),
                    name: d.name.clone(),
                    description: d.description.clone(),
                });
            }
        }
        if let (Some(memory), true) = (&self.memory, self.access.allows(Resource::Memory.read())) {
            for s in memory.spaces_of(&self.workspace_id).await? {
                out.push(ResourceInfo {
                    uri: format!("{SCHEME}memory/{}", s.id),
                    name: s.name.clone().unwrap_or_else(|| s.id.clone()),
                    description: s.description.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Reads one resource by URI; an unknown or unreachable one is "not found", one the
    /// caller may not read is forbidden.
    pub async fn read_resource(&self, uri: &str) -> Result<Value, DomainError> {
        let path = uri.strip_prefix(SCHEME).ok_or(DomainError::NotFound)?;
        let parts: Vec<&str> = path.split('/').collect();
        let need = |p: andibase_identity::Permission| {
            if self.access.allows(p) {
                Ok(())
            } else {
                Err(DomainError::forbidden(
                    p.to_string(),
                    format!("this key cannot read {uri} (it needs `{p}`)"),
                ))
            }
        };
        match parts.as_slice() {
            ["data-definitions", handle] => {
                need(Resource::Data.read())?;
                Ok(json!(self.data().get_definition(handle).await?))
            }
            ["data-definitions", handle, "records", id] => {
                need(Resource::Data.read())?;
                self.data().get_record(handle, id, false, None).await
            }
            ["memory", space_id] => {
                need(Resource::Memory.read())?;
                let (memory, space) = self.own_space(space_id).await?;
                Ok(json!(memory.info(&space).await?))
            }
            _ => Err(DomainError::NotFound),
        }
    }
}
