-- Talking to real insurance platforms (issue 15). A hospital's record may name its own platform
-- endpoint and gateway credential (NULL: the hub's platform and credentials), and how its
-- envelopes are signed (`cainfo`/`signtype`: 'none', or 'hmac-sha256' with a key of its own).
-- The secrets are sealed with the hub's data key, like personal data.
ALTER TABLE hospitals ADD COLUMN platform_url TEXT;
ALTER TABLE hospitals ADD COLUMN platform_app_id TEXT;
ALTER TABLE hospitals ADD COLUMN platform_secret_enc TEXT;
ALTER TABLE hospitals ADD COLUMN ca_signer TEXT NOT NULL DEFAULT 'none' CHECK (ca_signer IN ('none', 'hmac-sha256'));
ALTER TABLE hospitals ADD COLUMN ca_key_enc TEXT;

-- 9001 sign-ins: the sign_no a platform gave an institution's operator for a China business day,
-- sent in every envelope of that day; kept so that a restart or a second hub process does not
-- sign in again.
CREATE TABLE insurance_sign_ins (
    fixmedins_code TEXT NOT NULL,
    opter TEXT NOT NULL,
    business_day TEXT NOT NULL,
    sign_no TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    PRIMARY KEY (fixmedins_code, opter, business_day)
);
