-- Electronic invoices (医疗收费电子票据, docs/e-invoice.md). One blue invoice per settled settlement
-- (settled or settled_unpaid) and one red (冲红) per cancelled one that had a blue invoice: never
-- twice (UNIQUE (settlement_id, kind)). Numbers run per invoice code (year and hospital) without
-- gaps: the number is taken from invoice_sequences in the same transaction as the insert, so a
-- rolled-back issue gives its number back.
CREATE TABLE invoice_sequences (
    invoice_code TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    last_seq BIGINT NOT NULL
);
CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('blue', 'red')),
    invoice_code TEXT NOT NULL,
    seq BIGINT NOT NULL,
    number TEXT NOT NULL,
    check_code TEXT NOT NULL,
    total_fen BIGINT NOT NULL,
    payer_name_enc TEXT NOT NULL,
    offsets_id TEXT,
    key_id TEXT NOT NULL,
    signed_json TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    UNIQUE (settlement_id, kind),
    UNIQUE (invoice_code, seq),
    CHECK ((kind = 'red') = (offsets_id IS NOT NULL))
);
CREATE INDEX invoices_by_hospital ON invoices (hospital_code, issued_at);
-- The outbox: where a settlement's invoicing stands (0 none yet, 1 blue issued, 2 red issued),
-- changed only in the transaction that inserts the invoice. The two partial indexes hold exactly
-- the settlements the scan looks for, so it stays cheap however many are invoiced already.
ALTER TABLE settlements ADD COLUMN invoice_stage BIGINT NOT NULL DEFAULT 0;
CREATE INDEX settlements_awaiting_invoice ON settlements (created_at) WHERE invoice_stage = 0 AND state IN ('settled', 'settled_unpaid');
CREATE INDEX settlements_awaiting_red_flush ON settlements (created_at) WHERE invoice_stage = 1 AND state = 'cancelled';
