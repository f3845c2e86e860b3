-- The patients' notices of money going back when a settlement is reversed
-- (app/reversal_notices.rs), which the notifier looks for every two seconds: the settlements
-- cancelled since its cursor (a partial index: a settlement reaches `cancelled` once its bank
-- share is refunded and never changes after, so it holds one entry per cancellation), and the
-- stays changed since its cursor, each joined to the red invoices its 2305s owe (a reversal is
-- told once its refund has moved the stay on). Without them each pass read the whole table.
CREATE INDEX settlements_cancelled ON settlements (updated_at) WHERE state = 'cancelled';
CREATE INDEX stays_by_update ON stays (updated_at);
