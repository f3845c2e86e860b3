use super::*;

impl Store {
    /// The whole ledger: every account's totals, folded from the transfers (the one record of the
    /// money: no balance row is updated by each settlement, so no row is every settlement's hot
    /// spot). Balanced: Σ debits = Σ credits, and every transfer applies to the balances before it.
    pub async fn ledger_report(&self) -> StoreResult<LedgerReport> {
        let transfers = sqlx::query("SELECT * FROM ledger_transfers ORDER BY created_at, id").fetch_all(&self.pool).await?;
        let mut accounts: BTreeMap<String, AccountBalance> = BTreeMap::new();
        let mut pending: BTreeMap<String, Fen> = BTreeMap::new();
        for r in &transfers {
            let t = transfer_from_row(r)?;
            let held = t.pending_id.as_ref().and_then(|p| pending.remove(p));
            let mut debit = accounts.remove(&t.debit_account).unwrap_or_default();
            let mut credit = accounts.remove(&t.credit_account).unwrap_or_default();
            ledger::apply(&t, &mut debit, AccountLimit::None, &mut credit, held)?;
            if t.kind == TransferKind::Pending {
                pending.insert(t.id.clone(), t.amount);
            }
            accounts.insert(t.debit_account.clone(), debit);
            accounts.insert(t.credit_account.clone(), credit);
        }
        let balanced = ledger::is_balanced(accounts.values());
        Ok(LedgerReport { balanced, transfer_count: transfers.len() as i64, accounts })
    }
}

/// Appends one transfer, inside the caller's write (balances are folded from the transfers).
/// A transfer id already in the ledger is skipped if identical (a retried step) and refused if not.
pub(super) async fn post_transfer(c: &mut AnyConnection, t: &Transfer, at: &str) -> StoreResult<()> {
    ledger::validate(t)?;
    let inserted = sqlx::query(
        "INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_fen, kind, pending_id, code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&t.id)
    .bind(&t.debit_account)
    .bind(&t.credit_account)
    .bind(t.amount.0)
    .bind(t.kind.as_str())
    .bind(t.pending_id.clone())
    .bind(&t.code)
    .bind(at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing = sqlx::query("SELECT * FROM ledger_transfers WHERE id = $1").bind(&t.id).fetch_one(&mut *c).await?;
        let existing = transfer_from_row(&existing)?;
        if &existing == t {
            return Ok(());
        }
        return Err(StoreError::Conflict(format!("transfer {} was already posted with other values", t.id)));
    }
    let held = match &t.pending_id {
        Some(pending_id) => {
            let row = sqlx::query("SELECT amount_fen FROM ledger_transfers WHERE id = $1 AND kind = 'pending'")
                .bind(pending_id)
                .fetch_optional(&mut *c)
                .await?;
            let closed = sqlx::query("SELECT id FROM ledger_transfers WHERE pending_id = $1 AND id <> $2")
                .bind(pending_id)
                .bind(&t.id)
                .fetch_optional(&mut *c)
                .await?;
            match (row, closed) {
                (Some(r), None) => Some(Fen(r.get("amount_fen"))),
                _ => return Err(ledger::LedgerError::PendingNotOpen(t.id.clone()).into()),
            }
        }
        None => None,
    };
    // The same arithmetic the report folds with: a post above its hold is refused here, at write.
    ledger::delta(t, held)?;
    Ok(())
}

fn transfer_from_row(r: &AnyRow) -> StoreResult<Transfer> {
    let kind: String = r.get("kind");
    Ok(Transfer {
        id: r.get("id"),
        debit_account: r.get("debit_account"),
        credit_account: r.get("credit_account"),
        amount: Fen(r.get("amount_fen")),
        kind: TransferKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("transfer kind {kind}")))?,
        pending_id: r.get("pending_id"),
        code: r.get("code"),
    })
}
