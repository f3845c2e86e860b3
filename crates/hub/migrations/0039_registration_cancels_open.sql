-- 退号 (2202) begun and not answered (its reply lost, the HIS gone): the recovery worker sends the
-- same msgid again until the center answers. The partial index holds just those, so the worker's
-- pass reads a handful of rows, not every registration ever cancelled.
CREATE INDEX registration_cancels_open ON registration_cancels (created_at) WHERE done = 0;
