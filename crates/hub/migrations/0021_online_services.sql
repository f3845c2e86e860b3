-- The patient's online services (issue 14 scope 7). A special-disease registration (门诊慢特病备案,
-- 2503; revoked by 2504) and a manual claim (零星报销, the center's 9903) are each written with their
-- msgid before the call ('pending' / 'submitted'), so that an answer lost is asked again under the
-- same msgid and the same claim id (the center replays both: a claim is paid at most once).
-- The decision is the center's; the hub keeps what it said.
CREATE TABLE special_disease_applications (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL,
    psn_no TEXT NOT NULL,
    opsp_dise_code TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    begndate TEXT NOT NULL,
    msgid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined', 'revoking', 'revoked')),
    opsp_dise_name TEXT,
    trt_dcla_detl_sn TEXT,
    revoke_msgid TEXT,
    reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX special_disease_applications_by_person ON special_disease_applications (psn_no, created_at);

CREATE TABLE manual_claims (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL,
    psn_no TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    bill_no TEXT NOT NULL,
    setl_date TEXT NOT NULL,
    medfee_fen BIGINT NOT NULL,
    msgid TEXT NOT NULL,
    -- The 9903 input, sealed (it holds the bank card number), to be sent again after a lost answer.
    request_sealed TEXT NOT NULL,
    bank_card_tail TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('submitted', 'adjudicated', 'paid', 'declined')),
    fund_fen BIGINT,
    psn_part_fen BIGINT,
    payment_id TEXT,
    reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX manual_claims_by_person ON manual_claims (psn_no, created_at);
