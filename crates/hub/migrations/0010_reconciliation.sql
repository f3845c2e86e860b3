-- Daily reconciliation (对账, docs/reconciliation.md): one run per business date and partner
-- ('insurance', 'bank:<code>', 'hospitals'), with its counts, and every difference it found with the
-- evidence of both sides and what became of it. Runs are history: reconciling a date again adds a run.
CREATE TABLE reconciliation_runs (
    id TEXT PRIMARY KEY NOT NULL,
    business_date TEXT NOT NULL,
    partner TEXT NOT NULL,
    records BIGINT NOT NULL,
    matched BIGINT NOT NULL,
    in_transit BIGINT NOT NULL,
    mismatches BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    exceptions BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (matched + in_transit + mismatches <= records),
    CHECK (resolved + exceptions = mismatches)
);
CREATE INDEX reconciliation_runs_by_date ON reconciliation_runs (business_date, partner);

CREATE TABLE reconciliation_mismatches (
    run_id TEXT NOT NULL,
    n BIGINT NOT NULL,
    record_key TEXT NOT NULL,
    class TEXT NOT NULL CHECK (class IN ('partner_only', 'hub_only', 'amounts_differ', 'in_transit')),
    resolution TEXT NOT NULL CHECK (resolution IN ('resolved', 'exception', 'in_transit')),
    hub_evidence TEXT,
    partner_evidence TEXT,
    note TEXT NOT NULL,
    PRIMARY KEY (run_id, n)
);
CREATE INDEX reconciliation_mismatches_open ON reconciliation_mismatches (resolution);

-- A day's run reads the settlements created in the day and the ledger's captures and refunds
-- posted in it, in bulk: by time, not by a scan of everything ever settled.
CREATE INDEX settlements_by_created ON settlements (created_at);
CREATE INDEX ledger_transfers_by_code_time ON ledger_transfers (code, created_at);
