-- Banks an operator onboards while the hub runs (issue 18): the bank's protocol endpoint, the key
-- id and secrets the hub signs and checks with (sealed with the data key, never shown again), and
-- the terms the hub offers patients of that bank (credit limit asked for when the patient names
-- none, the bank's interest-free days as shown to them). Banks in `serve`'s configuration file
-- are not stored here; a stored bank with the same code as a configured one replaces it.
CREATE TABLE banks (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    key_id TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    callback_secret_enc TEXT NOT NULL,
    default_credit_limit_fen BIGINT NOT NULL,
    interest_free_days BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
