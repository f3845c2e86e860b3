-- A visit's fee withdrawal (2205) in the exceptions queue (差错处理), as settlements, stays and
-- refunds are: the recovery worker counts the passes that could not finish it (the center silent,
-- or its answer one the hub cannot act on, such as 5204 listing some of the withdrawn lines and
-- not others), waits longer after each, and parks it after the last with its reason, for an
-- operator to send round once more. `updated_at` is the last try's time (the backoff's start).
ALTER TABLE fee_withdrawals ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_withdrawals ADD COLUMN parked_reason TEXT;
