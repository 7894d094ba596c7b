ALTER TABLE findings ADD COLUMN opened_at TEXT;
