-- A sign-up (签约) is a persisted state machine (wugan_domain::signup), like a settlement: each step
-- is written before the call it leads to, so the recovery worker finishes one a crash or a silent
-- partner cut short. `id` is the agreement id the sign-up makes (derived from the caller and its
-- Idempotency-Key). The request and the person are personal data: sealed with the data key.
CREATE TABLE signups (
    id TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'identity_checked', 'bank_line_opened', 'releasing', 'active', 'refused', 'failed')),
    bank_code TEXT NOT NULL,
    request_enc TEXT NOT NULL,
    person_enc TEXT,
    bank_agreement_id TEXT,
    refusal_code TEXT,
    refusal_message TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    parked_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (state NOT IN ('identity_checked', 'bank_line_opened') OR person_enc IS NOT NULL),
    CHECK (state NOT IN ('bank_line_opened', 'releasing', 'active') OR bank_agreement_id IS NOT NULL),
    CHECK (state NOT IN ('releasing', 'refused', 'failed') OR refusal_code IS NOT NULL)
);
CREATE INDEX signups_by_state ON signups (state);
