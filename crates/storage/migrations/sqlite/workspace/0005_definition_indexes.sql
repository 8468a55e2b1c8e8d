-- Indexes declared on a definition over several fields (`indexes: [{fields, unique}]`).
ALTER TABLE data_definitions ADD COLUMN indexes TEXT NOT NULL DEFAULT '[]';
