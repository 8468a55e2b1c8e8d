//! Roles and permissions. A permission is `resource.action`; a key's effective access
//! is the union of its role's permissions and its explicit ones.

use std::collections::BTreeMap;

use andibase_common::{DomainError, DomainResult};
use serde::{Deserialize, Serialize};

/// Every resource a permission can name, in a fixed order (bit positions).
pub const RESOURCES: &[&str] = &[
    "workspaces",
    "members",
    "apiKeys",
    "agents",
    "sessionEvents",
    "data",
    "files",
    "apps",
    "channels",
    "automations",
    "approvals",
    "memory",
    "dataDefinitions",
];
pub const ACTIONS: &[&str] = &["read", "write"];

/// Resources an editor may change; everything else is read-only for editors.
const EDITOR_WRITES: &[&str] = &[
    "agents",
    "sessionEvents",
    "data",
    "files",
    "apps",
    "channels",
    "automations",
    "approvals",
    "memory",
];

/// Explicit permissions on the wire: `{resource: [actions]}`.
pub type Permissions = BTreeMap<String, Vec<String>>;

/// A set of permissions as bits: two per resource (read, write).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access(u64);

fn bit(resource: &str, action: &str) -> Option<u64> {
    let r = RESOURCES.iter().position(|x| *x == resource)?;
    let a = ACTIONS.iter().position(|x| *x == action)?;
    Some(1u64 << (r * 2 + a))
}

impl Access {
    pub fn none() -> Access {
        Access(0)
    }

    pub fn allows(self, resource: &str, action: &str) -> bool {
        bit(resource, action).is_some_and(|b| self.0 & b != 0)
    }

    pub fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    /// Parses explicit permissions, naming the offending entry on error.
    pub fn from_permissions(p: &Permissions) -> DomainResult<Access> {
        let mut bits = 0;
        for (resource, actions) in p {
            for action in actions {
                bits |= bit(resource, action).ok_or_else(|| {
                    DomainError::invalid(
                        &format!("permissions.{resource}"),
                        format!(
                            "unknown permission `{resource}.{action}`; resources are {} and actions are read, write",
                            RESOURCES.join(", ")
                        ),
                    )
                })?;
            }
        }
        Ok(Access(bits))
    }

    pub fn to_permissions(self) -> Permissions {
        let mut out = Permissions::new();
        for r in RESOURCES {
            let acts: Vec<String> = ACTIONS
                .iter()
                .filter(|a| self.allows(r, a))
                .map(|a| a.to_string())
                .collect();
            if !acts.is_empty() {
                out.insert(r.to_string(), acts);
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

/// The role an API key can be given.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    Viewer,
    Editor,
    Admin,
}

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
        match self {
            MemberRole::Owner | MemberRole::Admin => KeyRole::Admin.access(),
            MemberRole::Editor => KeyRole::Editor.access(),
            MemberRole::Viewer => KeyRole::Viewer.access(),
        }
    }

    /// The highest key role this member may hand out.
    pub fn max_key_role(self) -> KeyRole {
        match self {
            MemberRole::Owner | MemberRole::Admin => KeyRole::Admin,
            MemberRole::Editor => KeyRole::Editor,
            MemberRole::Viewer => KeyRole::Viewer,
        }
    }
}

impl KeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Viewer => "viewer",
            KeyRole::Editor => "editor",
            KeyRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<KeyRole> {
        Some(match s {
            "viewer" => KeyRole::Viewer,
            "editor" => KeyRole::Editor,
            "admin" => KeyRole::Admin,
            _ => return None,
        })
    }

    pub fn access(self) -> Access {
        let mut bits = 0;
        for r in RESOURCES {
            bits |= bit(r, "read").unwrap_or(0);
            let writes = match self {
                KeyRole::Admin => true,
                KeyRole::Editor => EDITOR_WRITES.contains(r),
                KeyRole::Viewer => false,
            };
            if writes {
                bits |= bit(r, "write").unwrap_or(0);
            }
        }
        Access(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        let (a, e, v) = (
            KeyRole::Admin.access(),
            KeyRole::Editor.access(),
            KeyRole::Viewer.access(),
        );
        assert!(a.allows("apiKeys", "write"));
        assert!(!e.allows("apiKeys", "write"));
        assert!(e.allows("agents", "write"));
        assert!(v.allows("agents", "read"));
        assert!(!v.allows("agents", "write"));
        assert!(!v.allows("nonsense", "read"));
    }

    #[test]
    fn explicit_permissions_union_with_role() {
        let mut p = Permissions::new();
        p.insert("agents".into(), vec!["write".into()]);
        let access = KeyRole::Viewer
            .access()
            .union(Access::from_permissions(&p).unwrap());
        assert!(access.allows("agents", "write"));
        assert!(!access.allows("data", "write"));
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
