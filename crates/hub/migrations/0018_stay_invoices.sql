-- Invoices of inpatient stays (issue 16): the outbox of what a stay's settlements owe, written in
-- the same transaction as the stage that owes it (a blue invoice when a bedside click settles, a
-- red one when 2305 reverses that settlement), so a crash costs a delay, never an invoice. A stay
-- may be settled, cancelled and settled again: each settlement (setl_id) owes its own pair. The
-- row carries the settlement's facts (the split, the capture) as JSON, because the stay's stage
-- moves on. `issued` turns 1 in the transaction that inserts the invoice: never twice.
CREATE TABLE stay_invoice_outbox (
    stay_id TEXT NOT NULL,
    setl_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('blue', 'red')),
    hospital_code TEXT NOT NULL,
    paid_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    issued BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stay_id, setl_id, kind)
);
CREATE INDEX stay_invoices_due ON stay_invoice_outbox (created_at) WHERE issued = 0;
-- A stay fee line's 医疗收费项目类别 as 2301 answered it (the invoice's items by category).
ALTER TABLE stay_fee_lines ADD COLUMN category TEXT;
-- The exceptions queue for stays (app/exceptions.rs): a stay whose partner stays silent is
-- counted at each recovery pass and, after MAX_ATTEMPTS, parked with the last error as evidence,
-- until an operator sends it round once more.
ALTER TABLE stays ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stays ADD COLUMN parked_reason TEXT;
