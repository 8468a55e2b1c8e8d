//! Black-box tests: each starts the real server and drives it over HTTP.

mod support;

mod agent_login;
mod agent_tools;
mod agents;
mod approvals;
mod browser;
mod chats;
mod console_data;
mod data;
mod data_system_names;
mod docs_and_ops;
mod errors_and_auth;
mod isolation;
mod mcp;
mod memory;
mod memory_models;
mod migrate;
mod query_shapes;
mod replicas;
mod restart;
mod security;
mod seed_examples;
mod sessions;
mod workspaces;
