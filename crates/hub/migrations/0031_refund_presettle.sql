-- A refund's re-settlement (2207 on the lines kept) carries back the four amounts 2207 requires of
-- a 2206 reply (fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt), so a 2206 of
-- the same input is made right before it. `presettle_msgid` is that 2206's msgid, fixed when the
-- refund is written like the others; NULL on a refund written before this migration, which
-- re-settles as it did (no 2206: its 2207 may already have gone out). `resettle_echo` is what of
-- the 2206 reply 2207 carries (a JSON object, exactly as the platform sent it, "{}" when it sent
-- none), written before 2207 is first sent: every resend of that 2207 carries the same.
ALTER TABLE refunds ADD COLUMN presettle_msgid TEXT;
ALTER TABLE refunds ADD COLUMN resettle_echo TEXT;
