-- Deposit receipts (押金收据 / 住院预交金收据, issue 16). A hospital whose deposit_policy is
-- 'receipts' gives the patient a signed receipt for every piece of a stay's hold: the deposit at
-- admission and each raise. The outbox row is written in the same transaction as the stage that
-- holds the piece (save_stay), and only for such a hospital; `invoice_id` is set in the
-- transaction that inserts the receipt (in `invoices`, kind 'deposit', its own code YJ…): never
-- twice. When the hold ends, `closed_by` says how, in the stage's own transaction: the settlement
-- (`{stay}:{setl_id}`) whose invoice recovers (收回) the deposit, or 'released' (the admission
-- cancelled, the hold voided). Receipts are never deleted.
CREATE TABLE deposit_receipts (
    stay_id TEXT NOT NULL,
    piece BIGINT NOT NULL,
    hospital_code TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    created_at TEXT NOT NULL,
    invoice_id TEXT,
    closed_by TEXT,
    closed_at TEXT,
    PRIMARY KEY (stay_id, piece)
);
CREATE INDEX deposit_receipts_due ON deposit_receipts (created_at) WHERE invoice_id IS NULL;
-- invoices.kind gains 'deposit': the table is rebuilt, as 0004 did (nothing references it).
CREATE TABLE invoices_v23 (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('blue', 'red', 'deposit')),
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
INSERT INTO invoices_v23 (id, hospital_code, settlement_id, kind, invoice_code, seq, number, check_code, total_fen, payer_name_enc,
    offsets_id, key_id, signed_json, issued_at)
SELECT id, hospital_code, settlement_id, kind, invoice_code, seq, number, check_code, total_fen, payer_name_enc,
    offsets_id, key_id, signed_json, issued_at
FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_v23 RENAME TO invoices;
CREATE INDEX invoices_by_hospital ON invoices (hospital_code, issued_at);
