-- 门诊费用明细撤销 (2205): uploaded outpatient fee lines withdrawn before the doctor's click, by
-- batch (chrg_bchno) or all of them ("0000"). The withdrawal is written with its msgid before 2205
-- is sent, and its lines are marked (`fee_lines.withdrawal_id`, and `uploaded` 0 again: their
-- state at the center is in motion) in the same write, so that a click or a fee upload meeting it
-- is refused. Answered, the lines are closed (`closed_by` 'withdrawn:<id>', so the same
-- feedetl_sn may be uploaded again); refused, they are open again as before.
-- state: sending (2205 not answered: resent under the same msgid), withdrawn, refused.
CREATE TABLE fee_withdrawals (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT NOT NULL,
    chrg_bchno TEXT NOT NULL,
    msgid TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'withdrawn', 'refused')),
    lines TEXT NOT NULL,
    refusal TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (visit_id, idem_key)
);
-- The recovery worker's scan: the few withdrawals whose 2205 is still unanswered.
CREATE INDEX fee_withdrawals_sending ON fee_withdrawals (created_at) WHERE state = 'sending';
ALTER TABLE fee_lines ADD COLUMN withdrawal_id TEXT NOT NULL DEFAULT '';
