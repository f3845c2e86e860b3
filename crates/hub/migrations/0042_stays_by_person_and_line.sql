-- A patient's stays (`GET /api/v1/patient/stays`, `/h5/visits`): their own, by psn_no, and those
-- on one of their lines, by agreement_id (a family member's they pay for); and the open stays on
-- a line that a revocation looks for. Stays are kept for years: without these, every page view
-- and every revocation read the whole table.
CREATE INDEX stays_by_person ON stays (psn_no, created_at);
CREATE INDEX stays_by_agreement ON stays (agreement_id, created_at);
