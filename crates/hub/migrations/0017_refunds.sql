-- 退费 (issue 13 scope 5, issue 18): refunds after settlement, `wugan_domain::refund`. The stage is
-- `RefundStage` as JSON (each stage carries its facts); `state` is its name, for queries. The msgids
-- of 2208, 2204 and 2207 are fixed when the refund is written, before any call, so a resumed step
-- resends the same ones and the insurance center replays its answer; the bank refund's id is
-- `{id}:bank`. `open_visit_id` is the visit's id while the refund is unfinished and NULL once it is
-- final: one refund in progress per visit (UNIQUE allows many NULLs on SQLite and PostgreSQL).
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    visit_id TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    open_visit_id TEXT UNIQUE,
    -- The feedetl_sn returned, as a JSON array; `remaining_json` the lines kept (re-uploaded).
    lines_json TEXT NOT NULL,
    remaining_json TEXT NOT NULL,
    state TEXT NOT NULL,
    stage_json TEXT NOT NULL,
    reverse_msgid TEXT NOT NULL,
    reupload_msgid TEXT NOT NULL,
    resettle_msgid TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- Invoices owed once refunded: 0 none yet, 1 the red-flush of the invoice in force issued,
    -- 2 the invoice of the lines kept reissued (a full refund stops at 1).
    invoice_stage BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (visit_id, idem_key)
);
CREATE INDEX refunds_by_state ON refunds (state, updated_at);
CREATE INDEX refunds_by_visit ON refunds (visit_id, created_at);

-- 退号 (2202): a registration cancelled, its msgid fixed before the call.
CREATE TABLE registration_cancels (
    visit_id TEXT PRIMARY KEY,
    msgid TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
