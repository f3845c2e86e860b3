-- 还款 from the insurance personal account: the insurance debit (9901) and the bank repayment are
-- two calls, so the repayment is a persisted state machine like a settlement.
CREATE TABLE account_repayments (
    id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    state TEXT NOT NULL,
    debit_msgid TEXT NOT NULL,
    cancel_msgid TEXT NOT NULL,
    txn_id TEXT,
    failure TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (agreement_id, idem_key)
);
CREATE INDEX account_repayments_by_state ON account_repayments (state);
