-- Clearing (清算, docs/reconciliation.md §"Clearing and payout"): one payout instruction per bank,
-- hospital and business day, written before the bank is called (state 'instructed') and closed
-- when it answers: 'paid' (its ledger transfer `payout:{bank}:{hospital}:{date}` is written in the
-- same transaction) or 'declined' (the bank's own book says it owes less). An instruction left
-- 'instructed' by a lost answer or a crash is sent again under the same id, which the bank answers
-- without paying twice.
CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    bank_code TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    business_date TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL CHECK (state IN ('instructed', 'paid', 'declined')),
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (bank_code, hospital_code, business_date)
);
CREATE INDEX payouts_by_state ON payouts (state, business_date);
