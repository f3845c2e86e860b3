-- 2207's input carries four amounts of the 2206 reply (fulamt_ownpay_amt, overlmt_selfpay,
-- preselfpay_amt, inscp_scp_amt: required by the national interface's 2207), so a settlement keeps
-- them between its pre-settlement and its settlement, exactly as the platform sent them (a JSON
-- object, or NULL when the reply had none or the settlement was pre-settled before this column).
ALTER TABLE settlements ADD COLUMN presettle_echo TEXT;
