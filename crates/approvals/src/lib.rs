//! Human approvals: an agent asks a question with options and context, a human picks an
//! option or writes an instruction, and the agent learns the outcome by polling, a
//! long-poll, or a callback. The wire contract is FinalSay's Agent API (seed 004).
//!
//! Approvals live in their workspace's database. Expiry and callback delivery are durable
//! jobs written in the same transaction as the change that needs them.

pub mod mcp;
mod model;
mod service;

pub use model::{
    is_approval_event, AgentApprovalSettings, Approval, ApprovalOption, ApprovalRefusal,
    ApprovalStatus, CallbackSpec, CreateApproval, DeliveryStatus, Notification, Resolution,
    SettingsPatch, TimeoutMode, TimeoutSpec, APPROVAL_CREATED, APPROVAL_EXPIRED, APPROVAL_RESOLVED,
};
pub use service::{
    Approvals, ApprovalsConfig, ApprovalsParts, CallbackJob, ExpireJob, ListFilter, CALLBACK_JOB,
    EXPIRE_JOB,
};
