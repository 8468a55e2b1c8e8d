//! The Model Context Protocol in andibase, both ways, through `rmcp` over Streamable HTTP:
//! the server (`server`: the workspace tool registry for any agent runtime) and the client
//! (`remote`: the remote MCP servers a workspace reaches through a credential, whose tools
//! an agent linked to that credential may call).

pub mod remote;
pub mod server;

#[cfg(feature = "fake")]
pub mod fake;
