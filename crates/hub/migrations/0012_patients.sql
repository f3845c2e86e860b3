-- The patient's own door (issue 14): patients known by their mobile number, one-time sign-in
-- codes, and sessions. Mobile numbers and identities are personal data: sealed with the data key,
-- looked up by blind index. Codes and session tokens are kept only as hashes.
CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    mobile_index TEXT NOT NULL UNIQUE,
    mobile_enc TEXT NOT NULL,
    -- The real-name binding (1101), once: the person the patient proved to be.
    psn_no TEXT UNIQUE,
    certno_index TEXT UNIQUE,
    identity_enc TEXT,
    bound_at TEXT,
    created_at TEXT NOT NULL,
    CHECK ((psn_no IS NULL) = (bound_at IS NULL) AND (psn_no IS NULL) = (identity_enc IS NULL))
);

CREATE TABLE patient_codes (
    id TEXT PRIMARY KEY NOT NULL,
    mobile_index TEXT NOT NULL,
    -- A keyed hash of the client address the code was asked from (for its rate limit).
    address_index TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    used_at TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX patient_codes_by_mobile ON patient_codes (mobile_index, created_at);
CREATE INDEX patient_codes_by_address ON patient_codes (address_index, created_at);

CREATE TABLE patient_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX patient_sessions_by_patient ON patient_sessions (patient_id);

-- Consent (签约 and its revocation): which agreement text (version and SHA-256) the patient
-- accepted or revoked, when, from which channel, with which sources and limits (`terms`, JSON).
CREATE TABLE consents (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    agreement_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('accepted', 'revoked')),
    text_version TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    channel TEXT NOT NULL,
    terms TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (agreement_id, kind)
);
CREATE INDEX consents_by_patient ON consents (patient_id, created_at);

-- The patients' notifications: an outbox and inbox in one. A notification is made once per event
-- (UNIQUE patient and event key, e.g. settled:<settlement id>) and its text message is sent from
-- here, retried until handed over (sms_sent_at).
CREATE TABLE patient_notifications (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    event_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    facts TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    sms_attempts BIGINT NOT NULL DEFAULT 0,
    sms_sent_at TEXT,
    UNIQUE (patient_id, event_key)
);
CREATE INDEX patient_notifications_by_patient ON patient_notifications (patient_id, created_at);
CREATE INDEX patient_notifications_unsent ON patient_notifications (sms_sent_at, sms_attempts);

-- QR e-voucher tokens a hospital's registration resolved: each once, never again.
CREATE TABLE qr_tokens_used (
    token_hash TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    hospital_code TEXT NOT NULL,
    used_at TEXT NOT NULL
);
