-- Hospital–bank agreements (医院与银行的合作协议, issue 18): which banks a hospital accepts, the
-- hospital's receiving account (收款账户) at that bank, sealed with the data key (NULL for the
-- agreements `serve` seeds at start between its configured banks and the hospitals of its
-- credentials file: those banks pay the hospital's merchant record as before), and whether the
-- agreement is in force. A payout goes only to a pair with an active agreement; a patient cannot
-- switch seamless payment on for a visit at a hospital whose agreement with their bank is suspended.
CREATE TABLE hospital_banks (
    hospital_code TEXT NOT NULL,
    bank_code TEXT NOT NULL,
    account_enc TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    source TEXT NOT NULL CHECK (source IN ('seeded', 'operator')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (hospital_code, bank_code)
);
CREATE INDEX hospital_banks_by_bank ON hospital_banks (bank_code, hospital_code);

-- The account a payout instruction names, sealed, fixed when the instruction is written (a
-- resend after a lost answer names the same account).
ALTER TABLE payouts ADD COLUMN payee_account_enc TEXT;
