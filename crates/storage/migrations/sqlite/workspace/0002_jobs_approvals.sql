-- Durable background jobs: written in the same transaction as the change that needs
-- them, claimed with a lease, retried with backoff.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX jobs_due ON jobs(status, run_at);

-- Per-agent approval settings (FinalSay's agent settings).
CREATE TABLE approval_agent_settings (
    agent_id TEXT PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
    default_timeout_seconds INTEGER NOT NULL,
    timeout_mode TEXT NOT NULL CHECK (timeout_mode IN ('expire_no_action', 'expire_with_instruction')),
    timeout_instruction TEXT,
    subscribers TEXT NOT NULL DEFAULT '[]',
    callback_secret_header TEXT,
    callback_secret_value BLOB,
    updated_at INTEGER NOT NULL
);

CREATE TABLE approvals (
    request_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    key_id TEXT,
    payload_hash TEXT NOT NULL,
    question TEXT NOT NULL,
    context_markdown TEXT NOT NULL,
    options TEXT NOT NULL,
    correlation_id TEXT,
    notification_summary TEXT,
    callback_url TEXT,
    callback_headers TEXT,
    timeout_seconds INTEGER NOT NULL,
    timeout_mode TEXT NOT NULL,
    timeout_instruction TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'selected_option', 'custom_instruction', 'expired')),
    selected_option_index INTEGER,
    selected_option_label TEXT,
    selected_option_value TEXT,
    custom_instruction TEXT,
    resolved_by TEXT,
    resolved_at INTEGER,
    expires_at INTEGER NOT NULL,
    result_delivery_status TEXT NOT NULL DEFAULT 'pending' CHECK (result_delivery_status IN ('pending', 'delivered', 'failed')),
    result_delivery_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX approvals_status ON approvals(status, created_at);
CREATE INDEX approvals_agent ON approvals(agent_id, created_at);

-- In-app notifications for members.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    link TEXT,
    subject_id TEXT,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);
