-- Space tokens (`ST…`), stored as SHA-256 only.
CREATE TABLE memory_space_tokens (
    token_hash TEXT PRIMARY KEY,
    space_id TEXT NOT NULL,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    usage INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX memory_space_tokens_space ON memory_space_tokens (space_id);
