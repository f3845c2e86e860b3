use super::*;

impl Store {
    /// The whole ledger: every account's totals, checked against a recomputation from the transfers.
    pub async fn ledger_report(&self) -> StoreResult<LedgerReport> {
        let rows = sqlx::query("SELECT * FROM ledger_accounts ORDER BY id").fetch_all(&self.pool).await?;
        let mut accounts = BTreeMap::new();
        for r in &rows {
            accounts.insert(
                r.get::<String, _>("id"),
                AccountBalance {
                    debits_pending: Fen(r.get("debits_pending")),
                    debits_posted: Fen(r.get("debits_posted")),
                    credits_pending: Fen(r.get("credits_pending")),
                    credits_posted: Fen(r.get("credits_posted")),
                },
            );
        }
        let transfers = sqlx::query("SELECT * FROM ledger_transfers ORDER BY created_at, id").fetch_all(&self.pool).await?;
        let mut recomputed: BTreeMap<String, AccountBalance> = BTreeMap::new();
        let mut pending: BTreeMap<String, Fen> = BTreeMap::new();
        for r in &transfers {
            let t = transfer_from_row(r)?;
            let held = t.pending_id.as_ref().and_then(|p| pending.remove(p));
            let mut debit = recomputed.remove(&t.debit_account).unwrap_or_default();
            let mut credit = recomputed.remove(&t.credit_account).unwrap_or_default();
            ledger::apply(&t, &mut debit, AccountLimit::None, &mut credit, held)?;
            if t.kind == TransferKind::Pending {
                pending.insert(t.id.clone(), t.amount);
            }
            recomputed.insert(t.debit_account.clone(), debit);
            recomputed.insert(t.credit_account.clone(), credit);
        }
        let balanced = ledger::is_balanced(accounts.values()) && recomputed == accounts;
        Ok(LedgerReport { balanced, transfer_count: transfers.len() as i64, accounts })
    }
}

/// Writes one transfer and moves the two accounts' totals, inside the caller's transaction.
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
    for account in [&t.debit_account, &t.credit_account] {
        sqlx::query("INSERT INTO ledger_accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING").bind(account).execute(&mut *c).await?;
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
    let d = ledger::delta(t, held)?;
    let (posted, pending_delta) = (d.posted.0, d.pending.0);
    sqlx::query("UPDATE ledger_accounts SET debits_posted = debits_posted + $1, debits_pending = debits_pending + $2 WHERE id = $3")
        .bind(posted)
        .bind(pending_delta)
        .bind(&t.debit_account)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE ledger_accounts SET credits_posted = credits_posted + $1, credits_pending = credits_pending + $2 WHERE id = $3")
        .bind(posted)
        .bind(pending_delta)
        .bind(&t.credit_account)
        .execute(&mut *c)
        .await?;
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
