//! The approval's shapes, as the Agent API writes them (snake_case).

use std::collections::BTreeMap;

use andibase_common::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalOption {
    /// Shown to the human, 1–100 characters.
    pub label: String,
    /// Returned to the agent, 1–200 characters.
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackSpec {
    /// Where the final result is POSTed (http or https; public addresses unless the operator allows private ones).
    pub url: String,
    /// Extra non-secret headers sent with the callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutMode {
    /// Expire with no action.
    ExpireNoAction,
    /// Expire with the predefined instruction as the outcome.
    ExpireWithInstruction,
}

impl TimeoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutMode::ExpireNoAction => "expire_no_action",
            TimeoutMode::ExpireWithInstruction => "expire_with_instruction",
        }
    }

    pub fn parse(s: &str) -> Option<TimeoutMode> {
        match s {
            "expire_no_action" => Some(TimeoutMode::ExpireNoAction),
            "expire_with_instruction" => Some(TimeoutMode::ExpireWithInstruction),
            _ => None,
        }
    }
}

/// A partial timeout; set fields override the agent's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TimeoutMode>,
    /// At most 1000 characters; needed for `expire_with_instruction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

/// `POST /v1/approvals`
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApproval {
    /// 1–1000 characters.
    pub question: String,
    /// Markdown context for the human, at most 20 KiB (may be empty).
    pub context_markdown: String,
    /// 1–10 options.
    pub options: Vec<ApprovalOption>,
    /// Your id for idempotent retries (1–200 of `A-Z a-z 0-9 - _ . :`); a UUID is assigned when absent.
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Short text for notifications, at most 200 characters.
    #[serde(default)]
    pub notification_summary: Option<String>,
    #[serde(default)]
    pub callback: Option<CallbackSpec>,
    #[serde(default)]
    pub timeout: Option<TimeoutSpec>,
}

/// The effective timeout of an approval.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EffectiveTimeout {
    pub seconds: i64,
    pub mode: TimeoutMode,
    pub instruction: Option<String>,
}

/// Why an approvals step is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// The calling agent is not an agent of the workspace.
    UnknownAgent,
    /// The workspace used its monthly quota.
    QuotaUsed,
    /// Deciding an approval that is no longer pending.
    Closed,
}

impl andibase_common::Refusal for ApprovalRefusal {
    fn code(&self) -> &'static str {
        match self {
            ApprovalRefusal::UnknownAgent => "invalid_agent",
            ApprovalRefusal::QuotaUsed => "USAGE_APPROVAL_LIMIT",
            ApprovalRefusal::Closed => "approval_closed",
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    SelectedOption,
    CustomInstruction,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 4] = [
        ApprovalStatus::Pending,
        ApprovalStatus::SelectedOption,
        ApprovalStatus::CustomInstruction,
        ApprovalStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::SelectedOption => "selected_option",
            ApprovalStatus::CustomInstruction => "custom_instruction",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        ApprovalStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where the delivery of an approval's result to its callback stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet (also when there is no callback).
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One approval request and, once decided, its outcome.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Approval {
    pub request_id: String,
    pub agent_id: String,
    pub status: ApprovalStatus,
    pub question: String,
    pub context_markdown: String,
    pub options: Vec<ApprovalOption>,
    pub correlation_id: Option<String>,
    pub notification_summary: Option<String>,
    pub callback: Option<CallbackSpec>,
    pub timeout: EffectiveTimeout,
    pub expires_at: Timestamp,
    pub selected_option_index: Option<i64>,
    pub selected_option_label: Option<String>,
    pub selected_option_value: Option<String>,
    pub custom_instruction: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub result_delivery_status: DeliveryStatus,
    pub result_delivery_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Approval {
    pub fn is_pending(&self) -> bool {
        self.status == ApprovalStatus::Pending
    }

    /// What `/result` answers and callbacks carry: `{request_id, status: "pending"}`
    /// while pending, else the outcome fields.
    pub fn result_json(&self) -> serde_json::Value {
        if self.is_pending() {
            return serde_json::json!({"request_id": self.request_id, "status": "pending"});
        }
        let mut v = serde_json::json!({
            "request_id": self.request_id,
            "agent_id": self.agent_id,
            "status": self.status,
            "selected_option_index": self.selected_option_index,
            "selected_option_label": self.selected_option_label,
            "selected_option_value": self.selected_option_value,
            "custom_instruction": self.custom_instruction,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at,
        });
        if let Some(c) = &self.correlation_id {
            v["correlation_id"] = serde_json::json!(c);
        }
        v
    }

    /// The record as create answers it: everything but the delivery fields, which only
    /// `GET /v1/approvals/{id}` shows.
    pub fn record_json(&self, with_delivery: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if !with_delivery {
            if let Some(o) = v.as_object_mut() {
                o.remove("result_delivery_status");
                o.remove("result_delivery_error");
            }
        }
        v
    }
}

/// A human's decision.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resolution {
    /// Choose an option by its index…
    #[serde(default)]
    pub option_index: Option<i64>,
    /// …or by its value…
    #[serde(default)]
    pub option_value: Option<String>,
    /// …or answer with an instruction instead (at most 10000 characters).
    #[serde(default)]
    pub custom_instruction: Option<String>,
}

/// Per-agent approval settings.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSettings {
    pub agent_id: String,
    pub default_timeout_seconds: i64,
    pub timeout_mode: TimeoutMode,
    pub timeout_instruction: Option<String>,
    /// User ids notified of new requests; empty means every member.
    pub subscribers: Vec<String>,
    /// Name of the secret header added to callbacks (its value is never shown).
    pub callback_secret_header: Option<String>,
    pub has_callback_secret: bool,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub default_timeout_seconds: Option<i64>,
    #[serde(default)]
    pub timeout_mode: Option<TimeoutMode>,
    #[serde(default)]
    pub timeout_instruction: Option<String>,
    #[serde(default)]
    pub subscribers: Option<Vec<String>>,
    /// `{name, value}` sets the secret header; `null` removes it.
    #[serde(
        default,
        deserialize_with = "andibase_common::serde_util::double_option"
    )]
    #[schema(value_type = Option<Object>)]
    pub callback_secret: Option<Option<SecretHeader>>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    pub name: String,
    pub value: String,
}

/// The outbox kinds of an approval's changes (`subject_id` is its `request_id`).
pub const APPROVAL_CREATED: &str = "approval.created";
pub const APPROVAL_RESOLVED: &str = "approval.resolved";
pub const APPROVAL_EXPIRED: &str = "approval.expired";

pub fn is_approval_event(kind: &str) -> bool {
    [APPROVAL_CREATED, APPROVAL_RESOLVED, APPROVAL_EXPIRED].contains(&kind)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub link: Option<String>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}
