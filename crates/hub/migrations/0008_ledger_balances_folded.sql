-- Account balances are folded from ledger_transfers (the one record of the money) when read:
-- a balance row that every settlement updated was the hottest row of the database (every
-- settlement of a hospital and of the fund wrote the same two rows). Its totals always equalled
-- the fold of the transfers (ledger_report checked that), so nothing is lost.
DROP TABLE ledger_accounts;
