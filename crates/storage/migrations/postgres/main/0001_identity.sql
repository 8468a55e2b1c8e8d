-- Identity and tenancy (schema `andibase`), as the SQLite migrations 1 and 2 leave it.
-- Timestamps are Unix milliseconds (UTC). Emails are stored lowercased by the code.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Browser sessions: the cookie holds a random token; only its SHA-256 is kept.
CREATE TABLE browser_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions(user_id);

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX invitations_workspace ON invitations(workspace_id);

-- API keys: the secret is shown once; only its SHA-256 is kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    start TEXT NOT NULL,
    prefix TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    permissions TEXT NOT NULL DEFAULT '{}',
    enabled BIGINT NOT NULL DEFAULT 1,
    expires_at BIGINT,
    last_request BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

-- Agent device-code logins (seed 000). The device code is kept hashed.
CREATE TABLE agent_login_requests (
    id TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code TEXT NOT NULL UNIQUE,
    agent_name TEXT NOT NULL,
    agent_description TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    permissions TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    decided_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    api_key_id TEXT,
    interval_seconds BIGINT NOT NULL,
    last_poll_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Small server-wide settings (the one-time setup token hash lives here).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Memory spaces: their ids are global (`/v1/{space_id}/…` names no workspace), so which
-- workspace owns each is tenancy, kept here. The graph is a schema of its own beside the
-- workspace's; the space's tokens live in the workspace's database.
CREATE TABLE memory_spaces (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT,
    description TEXT,
    owner TEXT NOT NULL,
    public BIGINT NOT NULL DEFAULT 0,
    tier BIGINT NOT NULL DEFAULT 0,
    tier_updated_at BIGINT NOT NULL,
    -- The space's own model configuration (BYOK), sealed by the server's vault.
    byok BYTEA,
    -- The formation high-water mark each maintenance scope last ran at.
    maintenance_at TEXT NOT NULL DEFAULT '{"daydream":0,"quick":0,"full":0}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX memory_spaces_workspace ON memory_spaces (workspace_id);
