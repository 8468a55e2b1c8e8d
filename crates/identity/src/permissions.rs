//! Roles and permissions. A permission is `resource.action`; a key's effective access
//! is the union of its role's permissions and its explicit ones.

use std::collections::BTreeMap;

use andibase_common::{DomainError, DomainResult, Role};
use serde::{Deserialize, Serialize};

/// What a permission is about. The order is fixed: it gives the bit positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Workspaces,
    Members,
    ApiKeys,
    Agents,
    SessionEvents,
    Data,
    Files,
    Apps,
    Channels,
    Automations,
    Approvals,
    Memory,
    DataDefinitions,
}

impl Resource {
    pub const ALL: [Resource; 13] = [
        Resource::Workspaces,
        Resource::Members,
        Resource::ApiKeys,
        Resource::Agents,
        Resource::SessionEvents,
        Resource::Data,
        Resource::Files,
        Resource::Apps,
        Resource::Channels,
        Resource::Automations,
        Resource::Approvals,
        Resource::Memory,
        Resource::DataDefinitions,
    ];

    /// The name on the wire (`apiKeys`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Workspaces => "workspaces",
            Resource::Members => "members",
            Resource::ApiKeys => "apiKeys",
            Resource::Agents => "agents",
            Resource::SessionEvents => "sessionEvents",
            Resource::Data => "data",
            Resource::Files => "files",
            Resource::Apps => "apps",
            Resource::Channels => "channels",
            Resource::Automations => "automations",
            Resource::Approvals => "approvals",
            Resource::Memory => "memory",
            Resource::DataDefinitions => "dataDefinitions",
        }
    }

    pub fn parse(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    pub const fn read(self) -> Permission {
        Permission {
            resource: self,
            action: Action::Read,
        }
    }

    pub const fn write(self) -> Permission {
        Permission {
            resource: self,
            action: Action::Write,
        }
    }

    /// Whether editors may change it (they read everything).
    fn editors_write(self) -> bool {
        !matches!(
            self,
            Resource::Workspaces
                | Resource::Members
                | Resource::ApiKeys
                | Resource::DataDefinitions
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::Read, Action::Write];

    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// One permission, `resource.action` on the wire (`agents.write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: Resource,
    pub action: Action,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.resource.name(), self.action.name())
    }
}

/// Explicit permissions on the wire: `{resource: [actions]}`.
pub type Permissions = BTreeMap<String, Vec<String>>;

/// A set of permissions as bits: two per resource (read, write).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access(u64);

fn bit(p: Permission) -> u64 {
    1u64 << (p.resource as u64 * 2 + p.action as u64)
}

impl Access {
    pub fn none() -> Access {
        Access(0)
    }

    pub fn allows(self, p: Permission) -> bool {
        self.0 & bit(p) != 0
    }

    /// What a role may do: read everything; editors also write what they may change;
    /// admins write everything.
    pub fn of_role(role: Role) -> Access {
        let mut bits = 0;
        for r in Resource::ALL {
            bits |= bit(r.read());
            let writes = match role {
                Role::Admin => true,
                Role::Editor => r.editors_write(),
                Role::Viewer => false,
            };
            if writes {
                bits |= bit(r.write());
            }
        }
        Access(bits)
    }

    pub fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    /// Parses explicit permissions, naming the offending entry on error.
    pub fn from_permissions(p: &Permissions) -> DomainResult<Access> {
        let mut bits = 0;
        for (resource, actions) in p {
            for action in actions {
                let Some((r, a)) = Resource::parse(resource).zip(Action::parse(action)) else {
                    let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
                    return Err(DomainError::invalid(
                        &format!("permissions.{resource}"),
                        format!(
                            "unknown permission `{resource}.{action}`; resources are {} and actions are read, write",
                            names.join(", ")
                        ),
                    ));
                };
                bits |= bit(Permission {
                    resource: r,
                    action: a,
                });
            }
        }
        Ok(Access(bits))
    }

    pub fn to_permissions(self) -> Permissions {
        let mut out = Permissions::new();
        for r in Resource::ALL {
            let acts: Vec<String> = Action::ALL
                .iter()
                .filter(|a| {
                    self.allows(Permission {
                        resource: r,
                        action: **a,
                    })
                })
                .map(|a| a.name().to_string())
                .collect();
            if !acts.is_empty() {
                out.insert(r.name().to_string(), acts);
            }
        }
        out
    }
}

/// A member's role in a workspace.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Viewer,
    Editor,
    Admin,
    Owner,
}

/// The role an API key can be given: the roles a caller acts with.
pub type KeyRole = Role;

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Viewer => "viewer",
            MemberRole::Editor => "editor",
            MemberRole::Admin => "admin",
            MemberRole::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<MemberRole> {
        Some(match s {
            "viewer" => MemberRole::Viewer,
            "editor" => MemberRole::Editor,
            "admin" => MemberRole::Admin,
            "owner" => MemberRole::Owner,
            _ => return None,
        })
    }

    pub fn access(self) -> Access {
        Access::of_role(self.acting_role())
    }

    /// The role this member acts with (an owner acts as an admin): what domain rules
    /// see, and the highest role of a key the member may hand out.
    pub fn acting_role(self) -> Role {
        match self {
            MemberRole::Owner | MemberRole::Admin => Role::Admin,
            MemberRole::Editor => Role::Editor,
            MemberRole::Viewer => Role::Viewer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        let (a, e, v) = (
            Access::of_role(KeyRole::Admin),
            Access::of_role(KeyRole::Editor),
            Access::of_role(KeyRole::Viewer),
        );
        assert!(a.allows(Resource::ApiKeys.write()));
        assert!(!e.allows(Resource::ApiKeys.write()));
        assert!(e.allows(Resource::Agents.write()));
        assert!(v.allows(Resource::Agents.read()));
        assert!(!v.allows(Resource::Agents.write()));
        assert_eq!(Resource::parse("nonsense"), None);
        assert_eq!(Resource::ApiKeys.write().to_string(), "apiKeys.write");
    }

    #[test]
    fn explicit_permissions_union_with_role() {
        let mut p = Permissions::new();
        p.insert("agents".into(), vec!["write".into()]);
        let access = Access::of_role(KeyRole::Viewer).union(Access::from_permissions(&p).unwrap());
        assert!(access.allows(Resource::Agents.write()));
        assert!(!access.allows(Resource::Data.write()));
        p.insert("bogus".into(), vec!["read".into()]);
        assert!(Access::from_permissions(&p).is_err());
    }

    #[test]
    fn permissions_round_trip() {
        let mut p = Permissions::new();
        p.insert("sessionEvents".into(), vec!["read".into()]);
        assert_eq!(Access::from_permissions(&p).unwrap().to_permissions(), p);
    }
}
