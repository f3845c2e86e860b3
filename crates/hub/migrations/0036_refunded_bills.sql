-- What a patient still owes of a settled_unpaid settlement after its refunds (欠费 in force): a refund
-- settles the kept lines again, and the bill is their cash share less what the bank's capture still
-- pays of it, nothing after a full refund (`Refunded::owed` in the domain). NULL: no refund changed
-- the click's own `unpaid_fen`. The click's figures stay as they were (statements and reconciliation
-- read the day as it happened); the bill lists and their collection read COALESCE(owed_fen, unpaid_fen).
ALTER TABLE settlements ADD COLUMN owed_fen BIGINT;
