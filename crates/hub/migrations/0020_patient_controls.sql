-- The patient's controls and collections (issue 14 scopes 4-6, issue 17 scope 4).
--
-- seamless_choices: the patient's standing choice for seamless payment, a default
-- (hospital_code '') and one per hospital, read when a visit is registered.
CREATE TABLE seamless_choices (
    psn_no TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (psn_no, hospital_code)
);
-- A visit's own switch: written at registration from the choices above ('default' or
-- 'hospital'), changed by the patient before the doctor's click ('visit'). No row: on.
CREATE TABLE visit_seamless_switches (
    visit_id TEXT PRIMARY KEY NOT NULL,
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('default', 'hospital', 'visit')),
    changes BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
-- An unpaid bill collected later (issue 17 scope 4): one row per settled_unpaid settlement.
-- Each attempt is an authorization and a capture on the agreement under fixed request ids
-- ({settlement}:collect:{attempt}:auth / :capture); a new attempt only after a decline, so the
-- bill is never collected twice. 'collected' is written with its ledger transfers.
CREATE TABLE bill_collections (
    settlement_id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('due', 'authorizing', 'capturing', 'collected', 'declined')),
    last_decline TEXT,
    collected_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX bill_collections_by_state ON bill_collections (state, updated_at);
CREATE INDEX bill_collections_by_agreement ON bill_collections (agreement_id);
-- Where each incremental notification scan has got to (a settlement's updated_at, …).
CREATE TABLE notification_cursors (
    name TEXT PRIMARY KEY NOT NULL,
    reached TEXT NOT NULL
);
