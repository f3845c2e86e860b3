-- What a drop-in HIS (national interface under /ni/<token>) told its platform about a visit before
-- the 2207 the hub pays after: its own visit number (2201's ipt_otp_no) and the fee lines the
-- platform accepted (2204, less those 2205 withdrew), each with the platform's answer for it. The
-- cash-only visit the hub writes at the 2207 takes them, so the HIS finds it by its own number and
-- its invoice has the lines' categories. Keyed by the platform's visit id (mdtrt_id).
CREATE TABLE national_visits (
    mdtrt_id TEXT PRIMARY KEY NOT NULL,
    hospital_code TEXT NOT NULL,
    ipt_otp_no TEXT NOT NULL,
    lines_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
