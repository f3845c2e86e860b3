-- A stay's 2304 (住院结算) carries four amounts of the 2303 reply before it (fulamt_ownpay_amt,
-- overlmt_selfpay, preselfpay_amt, inscp_scp_amt), as the click's 2207 does (0030), for the final
-- and every interim settlement: kept between the two calls, exactly as the platform sent them (a
-- JSON object, `{}` when the reply had none). NULL: pre-settled before this column, so its 2304
-- goes in the shape it had then (a 2304 in doubt is resent under its msgid with the same input).
ALTER TABLE stays ADD COLUMN presettle_echo TEXT;
