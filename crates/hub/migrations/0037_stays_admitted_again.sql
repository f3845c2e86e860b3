-- A 住院号 may be admitted again once its stay is over: a ward re-admits under the number of an
-- admission it cancelled (2404) or the HIS refused, and an HIS whose 住院号 is the patient's own
-- (one number, many admissions) admits under it after a stay was settled. The number is unique
-- among the stays still under way only (a partial index, as settlements_live_per_visit), where it
-- was unique for ever. The table is rebuilt to drop its UNIQUE (hospital_code, ipt_no): no table
-- references this one by a foreign key (the portable way on SQLite and PostgreSQL, as 0034).
CREATE TABLE stays_v37 (
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
    cancel_msgid TEXT,
    idem_key TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    parked_reason TEXT,
    presettle_echo TEXT,
    admission_info TEXT,
    discharge_info TEXT
);
INSERT INTO stays_v37 (id, hospital_code, ipt_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, med_type,
    agreement_id, state, stage_json, admit_msgid, discharge_msgid, presettle_msgid, settle_msgid, cancel_msgid, idem_key, created_at,
    updated_at, attempts, parked_reason, presettle_echo, admission_info, discharge_info)
SELECT id, hospital_code, ipt_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, med_type,
    agreement_id, state, stage_json, admit_msgid, discharge_msgid, presettle_msgid, settle_msgid, cancel_msgid, idem_key, created_at,
    updated_at, attempts, parked_reason, presettle_echo, admission_info, discharge_info FROM stays;
DROP TABLE stays;
ALTER TABLE stays_v37 RENAME TO stays;
CREATE INDEX stays_by_state ON stays (state, updated_at);
CREATE INDEX stays_by_number ON stays (hospital_code, ipt_no, created_at);
CREATE UNIQUE INDEX stays_live_per_number ON stays (hospital_code, ipt_no)
    WHERE state NOT IN ('cancelled', 'refused', 'settled', 'settled_unpaid', 'settled_by_interims');
