//! The Model Context Protocol in andibase. Today: the client side, for the remote MCP
//! servers a workspace reaches through a credential (Streamable HTTP, via `rmcp`), whose
//! tools an agent linked to that credential may call.

pub mod remote;

#[cfg(feature = "fake")]
pub mod fake;
