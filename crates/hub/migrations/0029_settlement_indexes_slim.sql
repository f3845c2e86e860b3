-- Issue 10: fewer index writes per settlement. `settlements_by_state` held every settlement by
-- state, so each step of the doctor's click (started → pre_settled → authorized →
-- insurance_settled → settled: four updates) moved the row's entry from one state's range to
-- another's, and finished settlements (nearly the whole table) filled it for nothing. Its readers
-- want only two small sets: the settlements left between steps (the recovery worker and the
-- backlog gauge, oldest first), and the unpaid bills changed since a cursor (the patient
-- notices). Each now has a partial index that holds only those rows; a settlement that settles
-- leaves the first and never enters the second. The state list is `UNFINISHED_SETTLEMENTS` in
-- store/settlements.rs, checked against this text by a unit test: the planners use a partial
-- index only when the query names the same list.
DROP INDEX settlements_by_state;
CREATE INDEX settlements_unfinished ON settlements (created_at)
    WHERE state IN ('started', 'pre_settled', 'authorized', 'insurance_settled', 'cancelling');
CREATE INDEX settlements_unpaid ON settlements (updated_at) WHERE state = 'settled_unpaid';
