-- Workspace credentials: named secrets for model providers and remote MCP servers. The
-- secret is sealed by the server's vault; only a short hint of it is kept in the clear.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    format TEXT,
    url TEXT,
    secret BLOB,
    secret_hint TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by TEXT
);

-- Skills: named instruction bundles attached to agents.
CREATE TABLE skills (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    instructions TEXT NOT NULL,
    -- The agents it is attached to, as a JSON array of agent ids.
    agent_ids TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The session a chat's tool calls are logged to (made at its first tool call).
ALTER TABLE agent_chats ADD COLUMN session_id TEXT;
