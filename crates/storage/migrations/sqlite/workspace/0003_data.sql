-- Data definitions: each one also owns a real table `rec_<id>` with typed columns.
CREATE TABLE data_definitions (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    fields TEXT NOT NULL,
    table_name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
