-- A family member's ID card number, sealed with the data key (as every personal datum): what the
-- e-voucher QR the signer shows for them (app/qr_voucher.rs, `WGQF1.`) registers them by at a
-- hospital's scanner. Links made before this migration have none: their QR is not offered, and
-- the member is registered by their card as before.
ALTER TABLE family_links ADD COLUMN member_certno_enc TEXT;
