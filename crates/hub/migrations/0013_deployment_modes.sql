-- Deployment modes (issue 15). A hospital's envelope fields come from its record, not constants
-- (mdtrtarea_admvs NULL: the hub's region); its settlement type (ALL: the hub settles insurance and
-- charges the cash share; CASH: the hospital settles insurance itself and the hub charges the cash
-- share; HI: insurance only); the hash of its drop-in national-interface token (the secret in
-- its `/ni/<token>` prefix), so a path finds its hospital without the token being stored.
ALTER TABLE hospitals ADD COLUMN mdtrtarea_admvs TEXT;
ALTER TABLE hospitals ADD COLUMN setl_type TEXT NOT NULL DEFAULT 'ALL' CHECK (setl_type IN ('ALL', 'CASH', 'HI'));
ALTER TABLE hospitals ADD COLUMN ni_token_hash TEXT;
CREATE UNIQUE INDEX hospitals_by_ni_token ON hospitals (ni_token_hash);

-- A visit's own settlement type, when it differs from its hospital's.
CREATE TABLE visit_setl_types (
    visit_id TEXT PRIMARY KEY NOT NULL,
    setl_type TEXT NOT NULL CHECK (setl_type IN ('ALL', 'CASH', 'HI'))
);

-- The platform's records of a settlement beside the hub's own row: its type; for a cash-only one,
-- the 2207 output the HIS posted (a setl_id is settled once); for a cancelled one, the 2208
-- cancellation record with its own new setl_id, checked against the settlement before it is kept.
-- The records name the person (setlinfo carries psn_name, certno, brdy): sealed like other
-- personal data.
CREATE TABLE settlement_records (
    settlement_id TEXT PRIMARY KEY NOT NULL,
    setl_type TEXT NOT NULL CHECK (setl_type IN ('ALL', 'CASH', 'HI')),
    posted_setl_id TEXT UNIQUE,
    posted_json TEXT,
    cancel_setl_id TEXT UNIQUE,
    cancel_json TEXT,
    created_at TEXT NOT NULL
);
