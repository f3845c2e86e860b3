-- 预结算复用: the last estimate (2206) asked for a visit, kept so that the doctor's click can stand
-- on it instead of sending its own 2206 while nothing it was computed from has changed (issue 10).
-- A JSON object: the digest of what was sent (the 2206 input without the certificate number, and
-- the open fee lines), the split, the four amounts 2207 carries back, and when. No personal data.
ALTER TABLE visits ADD COLUMN last_estimate TEXT;
