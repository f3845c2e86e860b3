-- State columns hold only the states the domain defines (wugan_domain: SettlementState, RepaymentStage,
-- Suspension), and a visit may be settled again after a cancelled or failed attempt: each attempt is
-- its own settlement row, and at most one attempt per visit is live. No table here is referenced by a
-- foreign key, so each is rebuilt (the portable way to add CHECK constraints on SQLite and PostgreSQL).
CREATE TABLE settlements_v4 (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'pre_settled', 'authorized', 'insurance_settled', 'settled', 'settled_unpaid', 'failed', 'cancelling', 'cancelled')),
    presettle_msgid TEXT NOT NULL,
    settle_msgid TEXT NOT NULL,
    cancel_msgid TEXT,
    medfee_fen BIGINT NOT NULL,
    estimate_cash_fen BIGINT,
    setl_id TEXT,
    fund_fen BIGINT,
    acct_fen BIGINT,
    cash_fen BIGINT,
    hosp_part_fen BIGINT,
    auth_request_id TEXT,
    auth_status TEXT CHECK (auth_status IS NULL OR auth_status IN ('approved', 'declined')),
    held_fen BIGINT NOT NULL DEFAULT 0,
    decline_code TEXT,
    captured_fen BIGINT NOT NULL DEFAULT 0,
    unpaid_fen BIGINT NOT NULL DEFAULT 0,
    failure_code TEXT,
    failure_message TEXT,
    setlinfo_json TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    parked_reason TEXT,
    idem_key TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    insurance_reversed BIGINT NOT NULL DEFAULT 0,
    cancel_idem_key TEXT,
    CHECK (held_fen >= 0 AND captured_fen >= 0 AND unpaid_fen >= 0 AND captured_fen <= held_fen)
);
INSERT INTO settlements_v4 (id, visit_id, hospital_code, agreement_id, state, presettle_msgid, settle_msgid, cancel_msgid, medfee_fen,
    estimate_cash_fen, setl_id, fund_fen, acct_fen, cash_fen, hosp_part_fen, auth_request_id, auth_status, held_fen, decline_code,
    captured_fen, unpaid_fen, failure_code, failure_message, setlinfo_json, attempts, parked_reason, idem_key, created_at, updated_at)
SELECT id, visit_id, hospital_code, agreement_id, state, presettle_msgid, settle_msgid, cancel_msgid, medfee_fen,
    estimate_cash_fen, setl_id, fund_fen, acct_fen, cash_fen, hosp_part_fen, auth_request_id, auth_status, held_fen, decline_code,
    captured_fen, unpaid_fen, failure_code, failure_message, setlinfo_json, attempts, parked_reason, idem_key, created_at, updated_at
FROM settlements;
DROP TABLE settlements;
ALTER TABLE settlements_v4 RENAME TO settlements;
CREATE INDEX settlements_by_state ON settlements (state);
CREATE INDEX settlements_by_visit ON settlements (visit_id, created_at);
CREATE UNIQUE INDEX settlements_live_per_visit ON settlements (visit_id) WHERE state NOT IN ('failed', 'cancelled');

CREATE TABLE account_repayments_v4 (
    id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL CHECK (state IN ('started', 'account_debited', 'posted', 'returning', 'returned', 'failed')),
    debit_msgid TEXT NOT NULL,
    cancel_msgid TEXT NOT NULL,
    txn_id TEXT,
    failure TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (agreement_id, idem_key)
);
INSERT INTO account_repayments_v4 (id, agreement_id, idem_key, amount_fen, state, debit_msgid, cancel_msgid, txn_id, failure, created_at, updated_at)
SELECT id, agreement_id, idem_key, amount_fen, state, debit_msgid, cancel_msgid, txn_id, failure, created_at, updated_at FROM account_repayments;
DROP TABLE account_repayments;
ALTER TABLE account_repayments_v4 RENAME TO account_repayments;
CREATE INDEX account_repayments_by_state ON account_repayments (state);

CREATE TABLE agreements_v4 (
    id TEXT PRIMARY KEY NOT NULL,
    psn_no TEXT NOT NULL,
    insutype TEXT NOT NULL,
    insuplc_admdvs TEXT NOT NULL,
    name_enc TEXT NOT NULL,
    certno_enc TEXT NOT NULL,
    certno_index TEXT NOT NULL,
    use_personal_account BIGINT NOT NULL,
    payment_method TEXT NOT NULL CHECK (payment_method IN ('credit_line', 'debit_card')),
    bank_code TEXT NOT NULL,
    bank_agreement_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    suspended_reason TEXT CHECK (suspended_reason IS NULL OR suspended_reason IN ('credit_overdue', 'credit_frozen')),
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
INSERT INTO agreements_v4 (id, psn_no, insutype, insuplc_admdvs, name_enc, certno_enc, certno_index, use_personal_account, payment_method,
    bank_code, bank_agreement_id, status, suspended_reason, created_at, revoked_at)
SELECT id, psn_no, insutype, insuplc_admdvs, name_enc, certno_enc, certno_index, use_personal_account, payment_method,
    bank_code, bank_agreement_id, status, suspended_reason, created_at, revoked_at FROM agreements;
DROP TABLE agreements;
ALTER TABLE agreements_v4 RENAME TO agreements;
CREATE UNIQUE INDEX agreements_one_active_per_person ON agreements (psn_no) WHERE status = 'active';
CREATE INDEX agreements_by_bank_agreement ON agreements (bank_code, bank_agreement_id);

CREATE TABLE visits_v4 (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    ipt_otp_no TEXT NOT NULL,
    psn_no TEXT NOT NULL,
    insutype TEXT NOT NULL,
    insuplc_admdvs TEXT NOT NULL,
    mdtrt_cert_type TEXT NOT NULL,
    mdtrt_cert_no_enc TEXT NOT NULL,
    med_type TEXT NOT NULL,
    register_msgid TEXT NOT NULL,
    begntime TEXT NOT NULL,
    mdtrt_id TEXT,
    agreement_id TEXT,
    seamless_reason TEXT CHECK (seamless_reason IS NULL OR seamless_reason IN ('not_signed', 'credit_overdue', 'credit_frozen')),
    status TEXT NOT NULL CHECK (status IN ('registering', 'registered', 'settling', 'settled', 'cancelled')),
    idem_key TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (hospital_code, ipt_otp_no)
);
INSERT INTO visits_v4 (id, hospital_code, ipt_otp_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, med_type,
    register_msgid, begntime, mdtrt_id, agreement_id, seamless_reason, status, idem_key, created_at)
SELECT id, hospital_code, ipt_otp_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, med_type,
    register_msgid, begntime, mdtrt_id, agreement_id, seamless_reason, status, idem_key, created_at FROM visits;
DROP TABLE visits;
ALTER TABLE visits_v4 RENAME TO visits;

-- A cancelled outpatient settlement (2208) closes its fee lines at the insurance center; the hub
-- closes them too (`closed_by` = the cancelled settlement), so the hospital can upload the corrected
-- lines, under the same feedetl_sn if it likes, for a new attempt. Open lines have closed_by ''.
CREATE TABLE fee_lines_v4 (
    visit_id TEXT NOT NULL,
    feedetl_sn TEXT NOT NULL,
    chrg_bchno TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    upload_msgid TEXT NOT NULL,
    uploaded BIGINT NOT NULL,
    detail_json TEXT NOT NULL,
    result_json TEXT,
    closed_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (visit_id, feedetl_sn, closed_by)
);
INSERT INTO fee_lines_v4 (visit_id, feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json)
SELECT visit_id, feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json FROM fee_lines;
DROP TABLE fee_lines;
ALTER TABLE fee_lines_v4 RENAME TO fee_lines;

-- Insurance msgids end in 4 digits per hospital and second. Each process reserves, per hospital
-- code and second, a block of 100 of them here (one row per hospital and second, pruned after a day), so no two processes (or a restart within the same
-- second) ever issue the same msgid.
CREATE TABLE msgid_blocks (
    prefix TEXT NOT NULL,
    stamp TEXT NOT NULL,
    next_block BIGINT NOT NULL,
    PRIMARY KEY (prefix, stamp)
)
