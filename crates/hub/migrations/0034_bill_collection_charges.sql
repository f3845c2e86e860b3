-- An unpaid bill is collected by one bank charge (扣款, bank protocol 1.5.0: a hold and its capture
-- in one request, under the attempt's capture id {settlement}:collect:{attempt}:capture), where it
-- was an authorization and then a capture (issue 10: the amount is final, so one call). A new state,
-- 'charging' (the charge is written before it is sent); 'authorizing' and 'capturing' stay for
-- collections begun before, which finish as they began. No table references this one by a foreign
-- key, so it is rebuilt (the portable way to change a CHECK on SQLite and PostgreSQL).
CREATE TABLE bill_collections_v34 (
    settlement_id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('due', 'charging', 'authorizing', 'capturing', 'collected', 'declined')),
    last_decline TEXT,
    collected_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO bill_collections_v34 (settlement_id, agreement_id, amount_fen, attempt, state, last_decline, collected_by, created_at, updated_at)
SELECT settlement_id, agreement_id, amount_fen, attempt, state, last_decline, collected_by, created_at, updated_at FROM bill_collections;
DROP TABLE bill_collections;
ALTER TABLE bill_collections_v34 RENAME TO bill_collections;
CREATE INDEX bill_collections_by_state ON bill_collections (state, updated_at);
CREATE INDEX bill_collections_by_agreement ON bill_collections (agreement_id);
