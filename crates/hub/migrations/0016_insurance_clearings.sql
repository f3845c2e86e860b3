-- The insurance side's monthly clearing (清算申请 3203, withdrawn by 3204; docs/reconciliation.md):
-- one application per hospital, month and clearing type, written with its msgid before the call
-- ('applying'), so that an answer lost is asked again under the same msgid (the center replays it).
-- 'applied' carries the center's clr_appy_evt_id and its ledger transfer `clearing:{evt}` is written
-- in the same transaction; 'refused' keeps the center's reason (a new run applies again);
-- 'withdrawn' (3204) reverses the transfer.
CREATE TABLE insurance_clearings (
    id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    setlym TEXT NOT NULL,
    clr_type TEXT NOT NULL,
    msgid TEXT NOT NULL,
    psntime BIGINT NOT NULL,
    medfee_fen BIGINT NOT NULL,
    fund_fen BIGINT NOT NULL,
    acct_fen BIGINT NOT NULL,
    cash_fen BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('applying', 'applied', 'refused', 'withdrawing', 'withdrawn')),
    clr_appy_evt_id TEXT,
    withdraw_msgid TEXT,
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX insurance_clearings_by_month ON insurance_clearings (setlym, hospital_code);
