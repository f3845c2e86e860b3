-- Refunds in the exceptions queue (差错处理, issue 13): a refund the bank declined after insurance
-- had reversed (the card closed, the line frozen) cannot finish by being sent again, and one whose
-- partner stays silent through MAX_ATTEMPTS recovery passes waits for a person too. Either is
-- parked with its reason as evidence; the recovery worker skips it until an operator sends it round.
ALTER TABLE refunds ADD COLUMN parked_reason TEXT;
