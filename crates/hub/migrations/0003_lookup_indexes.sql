-- Posting or voiding a hold looks for an earlier post or void of the same pending transfer.
-- Without this index that was a scan of the whole ledger on every settlement.
CREATE INDEX ledger_transfers_by_pending ON ledger_transfers (pending_id);
-- A bank's event names its own agreement id.
CREATE INDEX agreements_by_bank_agreement ON agreements (bank_code, bank_agreement_id);
