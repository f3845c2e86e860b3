-- 住院 (issue 13): an inpatient stay with its deposit held on the patient's line. The stage is
-- `wugan_domain::inpatient::StayStage` as JSON (each stage carries its own facts); `state` is its
-- name, for queries and the guard of every save. The msgids of the insurance steps are fixed
-- before their calls (at admission; afresh at each bedside click and each cancellation), so a
-- resumed step resends the same one.
CREATE TABLE stays (
    id TEXT PRIMARY KEY,
    hospital_code TEXT NOT NULL,
    ipt_no TEXT NOT NULL,
    psn_no TEXT NOT NULL,
    insutype TEXT NOT NULL,
    insuplc_admdvs TEXT NOT NULL,
    mdtrt_cert_type TEXT NOT NULL,
    mdtrt_cert_no_enc TEXT NOT NULL,
    med_type TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    state TEXT NOT NULL,
    stage_json TEXT NOT NULL,
    admit_msgid TEXT NOT NULL,
    discharge_msgid TEXT NOT NULL,
    presettle_msgid TEXT NOT NULL,
    settle_msgid TEXT NOT NULL,
    -- 2405 or 2404, fixed when the ward asks for it.
    cancel_msgid TEXT,
    idem_key TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (hospital_code, ipt_no)
);
CREATE INDEX stays_by_state ON stays (state, updated_at);

-- A stay's fee lines (2301): negative for returned drugs (naming `init_feedetl_sn` in the detail).
CREATE TABLE stay_fee_lines (
    stay_id TEXT NOT NULL,
    feedetl_sn TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    upload_msgid TEXT NOT NULL,
    uploaded BIGINT NOT NULL,
    detail_json TEXT NOT NULL,
    PRIMARY KEY (stay_id, feedetl_sn)
);
