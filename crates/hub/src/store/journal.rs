use super::*;

impl Store {
    /// The whole ledger: every account's totals, folded from the transfers (the one record of the
    /// money: no balance row is updated by each settlement, so no row is every settlement's hot
    /// spot). Σ debits = Σ credits holds by construction (a transfer moves one amount from one
    /// account to another), so `balanced` says more: every transfer is well formed, every post or
    /// void closes a hold that exists, and no hold is closed twice. The fold does not depend on the
    /// transfers' order (a post stamped before its hold, by a stepped clock, still folds).
    pub async fn ledger_report(&self) -> StoreResult<LedgerReport> {
        let rows = query("SELECT * FROM ledger_transfers ORDER BY created_at, id").fetch_all(&self.pool).await?;
        let transfers = rows.iter().map(transfer_from_row).collect::<StoreResult<Vec<Transfer>>>()?;
        let holds: BTreeMap<&str, Fen> =
            transfers.iter().filter(|t| t.kind == TransferKind::Pending).map(|t| (t.id.as_str(), t.amount)).collect();
        let mut closed = std::collections::BTreeSet::new();
        let mut accounts: BTreeMap<String, AccountBalance> = BTreeMap::new();
        let mut sound = true;
        for t in &transfers {
            let held = match t.pending_id.as_deref() {
                Some(hold) if closed.insert(hold) => holds.get(hold).copied(),
                Some(_) => None, // closed twice: `apply` refuses it below
                None => None,
            };
            let mut debit = accounts.remove(&t.debit_account).unwrap_or_default();
            let mut credit = accounts.remove(&t.credit_account).unwrap_or_default();
            if let Err(e) = ledger::apply(t, &mut debit, AccountLimit::None, &mut credit, held) {
                tracing::error!(transfer = %t.id, error = %e, "the ledger does not fold");
                sound = false;
            }
            accounts.insert(t.debit_account.clone(), debit);
            accounts.insert(t.credit_account.clone(), credit);
        }
        let balanced = sound && ledger::is_balanced(accounts.values());
        Ok(LedgerReport { balanced, transfer_count: transfers.len() as i64, accounts })
    }

    /// Books one transfer on its own (a bank's event: a repayment made at the bank). Posting it
    /// again is a no-op; the same id with other values is refused.
    pub async fn post_one_transfer(&self, t: &Transfer) -> StoreResult<()> {
        let (t, now) = (t.clone(), self.now());
        self.write(move |c| Box::pin(async move { post_transfer(c, &t, &now).await })).await
    }
}

/// Appends one transfer, inside the caller's write (balances are folded from the transfers).
/// A transfer id already in the ledger is skipped if identical (a retried step) and refused if not.
pub(super) async fn post_transfer(c: &mut Conn, t: &Transfer, at: &str) -> StoreResult<()> {
    ledger::validate(t)?;
    if append_row(c, t, at).await? == 0 {
        let existing = query("SELECT * FROM ledger_transfers WHERE id = $1").bind(&t.id).fetch_one(&mut *c).await?;
        let existing = transfer_from_row(&existing)?;
        if &existing == t {
            return Ok(());
        }
        return Err(StoreError::Conflict(format!("transfer {} was already posted with other values", t.id)));
    }
    let held = match &t.pending_id {
        Some(pending_id) => {
            // The hold's amount, and whether another transfer closed it already: one statement.
            let row = query(
                "SELECT (SELECT amount_fen FROM ledger_transfers WHERE id = $1 AND kind = 'pending') AS held, \
                 (SELECT COUNT(*) FROM ledger_transfers WHERE pending_id = $1 AND id <> $2) AS closers",
            )
            .bind(pending_id)
            .bind(&t.id)
            .fetch_one(&mut *c)
            .await?;
            match (row.get::<Option<i64>, _>("held"), row.get::<i64, _>("closers")) {
                (Some(held), 0) => Some(Fen(held)),
                _ => return Err(ledger::LedgerError::PendingNotOpen(t.id.clone()).into()),
            }
        }
        None => None,
    };
    // The same arithmetic the report folds with: a post above its hold is refused here, at write.
    ledger::delta(t, held)?;
    Ok(())
}

/// Appends the transfer's row unless its id is there already; the rows written (0 or 1).
async fn append_row(c: &mut Conn, t: &Transfer, at: &str) -> StoreResult<u64> {
    let done = query(
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
    .await?;
    Ok(done.rows_affected())
}

fn transfer_from_row(r: &SqlRow) -> StoreResult<Transfer> {
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn a_store() -> (Store, std::path::PathBuf) {
        let (store, dir) = Store::in_fresh_folder("journal-test").await;
        (store, dir)
    }

    fn transfer(id: &str, kind: TransferKind, amount: i64, pending_id: Option<&str>) -> Transfer {
        Transfer {
            id: id.into(),
            debit_account: "patient:p1".into(),
            credit_account: "hospital:h1".into(),
            amount: Fen(amount),
            kind,
            pending_id: pending_id.map(str::to_string),
            code: "test".into(),
        }
    }

    /// Written as a buggy or tampered process might have, past `post_transfer`'s checks.
    async fn append_raw(store: &Store, t: Transfer, at: &'static str) {
        store.write(move |c| Box::pin(async move { append_row(c, &t, at).await })).await.unwrap();
    }

    #[tokio::test]
    async fn a_hold_captured_before_it_was_stamped_still_folds_and_a_hold_closed_twice_does_not() {
        let (store, dir) = a_store().await;
        // A stepped clock stamped the capture a second before its hold: the fold takes no order.
        append_raw(&store, transfer("hold", TransferKind::Pending, 5_000, None), "2026-11-30T10:00:01Z").await;
        append_raw(&store, transfer("capture", TransferKind::PostPending, 4_000, Some("hold")), "2026-11-30T10:00:00Z").await;
        let report = store.ledger_report().await.unwrap();
        assert!(report.balanced, "{report:?}");
        assert_eq!(report.accounts["hospital:h1"].credits_posted, Fen(4_000));
        assert_eq!(report.accounts["hospital:h1"].credits_pending, Fen(0));

        // The same hold voided as well: money the ledger cannot account for.
        append_raw(&store, transfer("void", TransferKind::VoidPending, 5_000, Some("hold")), "2026-11-30T10:00:02Z").await;
        assert!(!store.ledger_report().await.unwrap().balanced, "a hold closed twice");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_capture_of_a_hold_that_never_was_is_not_balanced() {
        let (store, dir) = a_store().await;
        append_raw(&store, transfer("capture", TransferKind::PostPending, 4_000, Some("no-such-hold")), "2026-11-30T10:00:00Z").await;
        assert!(!store.ledger_report().await.unwrap().balanced);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
