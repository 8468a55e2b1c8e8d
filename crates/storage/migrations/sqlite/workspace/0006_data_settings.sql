-- The workspace's data settings (`autoIndexes`), one row a setting.
CREATE TABLE data_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
