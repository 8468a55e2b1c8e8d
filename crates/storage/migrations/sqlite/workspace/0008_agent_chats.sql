-- Agent chats (seed 001): a chat is made by its first message to a client-chosen id.
CREATE TABLE agent_chats (
    agent_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    title TEXT NOT NULL,
    n_messages INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    first_message_at INTEGER,
    last_message_at INTEGER,
    PRIMARY KEY (agent_id, chat_id)
) WITHOUT ROWID;
CREATE INDEX agent_chats_recent ON agent_chats (agent_id, updated_at DESC);

CREATE TABLE agent_chat_messages (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    source TEXT NOT NULL,
    -- `{parts: [...]}` as JSON text.
    message TEXT NOT NULL,
    -- Token usage of an assistant message (JSON text), `{}` otherwise.
    usage TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    UNIQUE (agent_id, chat_id, seq)
);
