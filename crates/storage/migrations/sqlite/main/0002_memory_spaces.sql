-- Memory spaces: their ids are global (`/v1/{space_id}/…` names no workspace), so which
-- workspace owns each is tenancy, kept here. The graph is a file of its own beside the
-- workspace's database; the space's tokens live in the workspace's database.
CREATE TABLE memory_spaces (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT,
    description TEXT,
    owner TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 0,
    tier INTEGER NOT NULL DEFAULT 0,
    tier_updated_at INTEGER NOT NULL,
    -- The space's own model configuration (BYOK), sealed by the server's vault.
    byok BLOB,
    -- The formation high-water mark each maintenance scope last ran at.
    maintenance_at TEXT NOT NULL DEFAULT '{"daydream":0,"quick":0,"full":0}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX memory_spaces_workspace ON memory_spaces (workspace_id);
