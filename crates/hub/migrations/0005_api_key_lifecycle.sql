-- API keys get a name that is not the key (key_id: for access logs and `wugan key`), a label, where
-- they come from (origin: 'credentials' for the keys credentials.json lists, 'issued' for keys
-- `wugan key` minted), revocation, the end of a rotated key's grace period (expires_at), and when
-- each was last used. Existing keys are named from their hash, as new ones are.
ALTER TABLE api_keys ADD COLUMN key_id TEXT;
ALTER TABLE api_keys ADD COLUMN label TEXT;
ALTER TABLE api_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'credentials' CHECK (origin IN ('credentials', 'issued'));
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
UPDATE api_keys SET key_id = 'key_' || substr(key_hash, 1, 16) WHERE key_id IS NULL;
CREATE UNIQUE INDEX api_keys_key_id ON api_keys (key_id);
