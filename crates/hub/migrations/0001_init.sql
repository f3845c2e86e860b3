-- wugan hub schema, version 1. Common SQL that runs unchanged on SQLite and PostgreSQL:
-- money is BIGINT fen, ids and timestamps (RFC 3339, UTC) are TEXT, flags are BIGINT 0/1.

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    hospital_code TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE hospitals (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE agreements (
    id TEXT PRIMARY KEY NOT NULL,
    psn_no TEXT NOT NULL,
    insutype TEXT NOT NULL,
    insuplc_admdvs TEXT NOT NULL,
    name_enc TEXT NOT NULL,
    certno_enc TEXT NOT NULL,
    certno_index TEXT NOT NULL,
    use_personal_account BIGINT NOT NULL,
    payment_method TEXT NOT NULL,
    bank_code TEXT NOT NULL,
    bank_agreement_id TEXT NOT NULL,
    status TEXT NOT NULL,
    suspended_reason TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX agreements_one_active_per_person ON agreements (psn_no) WHERE status = 'active';

CREATE TABLE visits (
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
    seamless_reason TEXT,
    status TEXT NOT NULL,
    idem_key TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (hospital_code, ipt_otp_no)
);

CREATE TABLE fee_lines (
    visit_id TEXT NOT NULL,
    feedetl_sn TEXT NOT NULL,
    chrg_bchno TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    upload_msgid TEXT NOT NULL,
    uploaded BIGINT NOT NULL,
    detail_json TEXT NOT NULL,
    result_json TEXT,
    PRIMARY KEY (visit_id, feedetl_sn)
);

CREATE TABLE settlements (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT NOT NULL UNIQUE,
    hospital_code TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    state TEXT NOT NULL,
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
    auth_status TEXT,
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
    updated_at TEXT NOT NULL
);
CREATE INDEX settlements_by_state ON settlements (state);

CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    debits_pending BIGINT NOT NULL DEFAULT 0,
    debits_posted BIGINT NOT NULL DEFAULT 0,
    credits_pending BIGINT NOT NULL DEFAULT 0,
    credits_posted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE ledger_transfers (
    id TEXT PRIMARY KEY NOT NULL,
    debit_account TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    kind TEXT NOT NULL,
    pending_id TEXT,
    code TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code BIGINT,
    response_body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);

CREATE TABLE bank_event_cursors (
    bank_code TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);

-- 亲情付: a family member whose visits the signer's agreement pays for.
CREATE TABLE family_links (
    id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    member_psn_no TEXT NOT NULL,
    member_name_enc TEXT NOT NULL,
    relation TEXT NOT NULL,
    consent_method TEXT NOT NULL,
    consent_reference TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX family_links_one_active_per_member ON family_links (member_psn_no) WHERE status = 'active';
CREATE INDEX family_links_by_agreement ON family_links (agreement_id);
