-- Stored answers to idempotent requests are kept for a retention period (24 h, as Stripe keeps
-- keys) and msgid blocks for a day: both are pruned by age, so both are indexed by it.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE INDEX msgid_blocks_by_stamp ON msgid_blocks (stamp)
