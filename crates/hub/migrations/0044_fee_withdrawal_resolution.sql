-- A parked fee withdrawal (2205) an operator settled outside the hub (差错处理): they looked at the
-- center's own record of the visit and marked the withdrawal withdrawn or refused, saying how.
-- The note is kept with the withdrawal (and the action in the audit log): the hub moves the
-- visit's lines on the operator's word alone, so the word is required and kept.
ALTER TABLE fee_withdrawals ADD COLUMN resolution TEXT;
