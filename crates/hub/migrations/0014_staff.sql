-- Staff accounts, their sessions, the append-only audit log, hospital onboarding details and
-- webhooks to the HIS (issue 18).
--
-- A staff member signs in with a password (argon2id, PHC string) and, when enrolled, a TOTP code
-- (secret sealed with the hub's data key). Roles: operator (the hub's operator, every hospital and
-- bank), doctor / cashier / finance (one hospital), bank (one bank's agreements).
CREATE TABLE staff (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'doctor', 'cashier', 'finance', 'bank')),
    hospital_code TEXT,
    bank_code TEXT,
    password_hash TEXT NOT NULL,
    totp_secret_enc TEXT,
    disabled_at TEXT,
    created_at TEXT NOT NULL,
    CHECK ((role IN ('doctor', 'cashier', 'finance')) = (hospital_code IS NOT NULL)),
    CHECK ((role = 'bank') = (bank_code IS NOT NULL))
);

-- A session is known by the hash of its token (the cookie holds the token); it ends at
-- expires_at, or when signed out (ended_at).
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT,
    address TEXT NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);

-- Append-only: each entry's hash covers its fields and the previous entry's hash, so an edited,
-- removed or inserted row breaks the chain (`wugan audit verify`).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    address TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- Recent failed sign-ins of a login are counted from here (a login's lockout).
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);

-- Onboarding: what the operator records of a hospital.
ALTER TABLE hospitals ADD COLUMN grade TEXT;
ALTER TABLE hospitals ADD COLUMN region TEXT;
ALTER TABLE hospitals ADD COLUMN insurance_platform TEXT;
ALTER TABLE hospitals ADD COLUMN deposit_policy TEXT;

-- Webhooks: a hospital's endpoints (secret sealed), the events of its visits (one per kind and
-- subject: the outbox), and each event's delivery to each endpoint, retried with backoff.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kind, subject_id)
);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'gave_up')),
    attempts BIGINT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    delivered_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
