-- Insurance only (setl_type HI, issue 15): the hub settles insurance (2206/2207/2208) and the
-- hospital collects the patient's cash share itself, at its window or its own channel. Fixed on the
-- attempt when it is created, so a later change of the hospital's setting never changes how an
-- attempt under way is booked: 1 = no bank call ever, the cash share booked as collected at the
-- hospital (`cash_outside:{hospital}` → `hospital:{hospital}`), never as the patient's bill.
ALTER TABLE settlements ADD COLUMN cash_at_hospital BIGINT NOT NULL DEFAULT 0;
