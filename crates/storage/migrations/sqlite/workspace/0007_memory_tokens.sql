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

-- Conversations of a space, by collection (`conversations` for formation, `recall`,
-- `maintenance`), each numbered from 1 within its space and collection.
CREATE TABLE memory_conversations (
    space_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    id INTEGER NOT NULL,
    user TEXT NOT NULL,
    input TEXT NOT NULL,
    messages TEXT NOT NULL,
    artifacts TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    failed_reason TEXT,
    usage TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (space_id, collection, id)
);
