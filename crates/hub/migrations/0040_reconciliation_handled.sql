-- 对账差异处理: a difference reconciliation left for an operator, dealt with outside the hub (a
-- refund at the bank, a 2208 at the center, a booking by hand) and marked so, with how. It leaves
-- the exceptions queue for good; later runs of the day that find it again do not bring it back.
CREATE TABLE reconciliation_handled (
    business_date TEXT NOT NULL,
    partner TEXT NOT NULL,
    record_key TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (business_date, partner, record_key)
);
