//! Webhooks to a hospital's HIS: its endpoints, the outbox of events about its visits, and each
//! event's delivery to each endpoint. Events are found by a scan (like the invoice outbox), not
//! written by the settlement path: a settlement in a final state without its event gets one, once
//! (`UNIQUE (kind, subject_id)`), with a delivery per endpoint the hospital had by then; so does
//! each invoice issued (`invoice.issued`). Inpatient stays' events: `stay_webhooks`.

use super::*;

#[path = "stay_webhooks.rs"]
mod stay_webhooks;

/// A hospital's endpoint (never its secret).
#[derive(Clone, Debug, serde::Serialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub hospital_code: String,
    pub url: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

/// One event's delivery to one endpoint, with the event.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub hospital_code: String,
    pub kind: String,
    /// `pending` (due at `next_attempt_at`), `delivered` or `gave_up` (after the retry window).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    /// The event's JSON as it is sent.
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub url: String,
    #[serde(skip)]
    pub secret_enc: String,
}

/// The events the scan writes: (kind, which settlements, with their subject being the
/// settlement). A settlement cancelled before a scan saw it settled gets its cancellation only.
const SETTLEMENT_EVENTS: &[(&str, &str)] = &[
    ("settlement.settled", "s.state = 'settled'"),
    ("settlement.settled_unpaid", "s.state = 'settled_unpaid'"),
    ("settlement.cancelled", "s.state = 'cancelled'"),
    ("settlement.refunded", "s.state = 'cancelled' AND s.captured_fen > 0"),
];

fn endpoint_of(r: &SqlRow) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        url: r.get("url"),
        created_at: r.get("created_at"),
        disabled_at: r.get("disabled_at"),
    }
}

fn delivery_of(r: &SqlRow) -> WebhookDelivery {
    WebhookDelivery {
        id: r.get("id"),
        event_id: r.get("event_id"),
        endpoint_id: r.get("endpoint_id"),
        hospital_code: r.get("hospital_code"),
        kind: r.get("kind"),
        status: r.get("status"),
        attempts: r.get("attempts"),
        next_attempt_at: r.get("next_attempt_at"),
        last_status: r.get("last_status"),
        last_error: r.get("last_error"),
        delivered_at: r.get("delivered_at"),
        created_at: r.get("created_at"),
        payload: r.get("payload"),
        url: r.get("url"),
        secret_enc: r.get("secret_enc"),
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.endpoint_id, e.hospital_code, e.kind, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, e.payload, p.url, p.secret_enc";
const DELIVERY_FROM: &str =
    "webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id";

/// A candidate event the scan found: kind, subject (a settlement, or an invoice), hospital, and the
/// settlement's facts.
pub struct EventCandidate {
    pub kind: String,
    pub subject_id: String,
    pub hospital_code: String,
    pub visit_id: String,
    pub state: String,
    pub medfee_fen: i64,
    pub cash_fen: Option<i64>,
    pub captured_fen: i64,
    pub unpaid_fen: i64,
    pub settlement_id: String,
    /// `blue` or `red`, for an invoice.issued event.
    pub invoice_kind: Option<String>,
}

impl Store {
    pub async fn insert_webhook_endpoint(&self, id: &str, hospital_code: &str, url: &str, secret_enc: &str) -> StoreResult<()> {
        let (id, hospital_code, url, secret_enc, now) =
            (id.to_string(), hospital_code.to_string(), url.to_string(), secret_enc.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("INSERT INTO webhook_endpoints (id, hospital_code, url, secret_enc, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(hospital_code)
                    .bind(url)
                    .bind(secret_enc)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// A hospital's endpoints, oldest first (every hospital's: `None`).
    pub async fn webhook_endpoints(&self, hospital_code: Option<&str>) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows = query("SELECT * FROM webhook_endpoints WHERE hospital_code = $1 OR $2 ORDER BY created_at, id")
            .bind(hospital_code.unwrap_or(""))
            .bind(hospital_code.is_none())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(endpoint_of).collect())
    }

    /// Settlements in a state that makes an event no event was written for yet, at hospitals with
    /// an endpoint, changed since that endpoint was registered.
    pub async fn webhook_event_candidates(&self, limit: i64) -> StoreResult<Vec<EventCandidate>> {
        let mut found = Vec::new();
        for (kind, condition) in SETTLEMENT_EVENTS {
            let sql = format!(
                "SELECT s.id, s.hospital_code, s.visit_id, s.state, s.medfee_fen, s.cash_fen, s.captured_fen, s.unpaid_fen FROM settlements s \
                 WHERE {condition} \
                 AND s.updated_at >= (SELECT MIN(p.created_at) FROM webhook_endpoints p WHERE p.hospital_code = s.hospital_code AND p.disabled_at IS NULL) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = $1 AND e.subject_id = s.id) ORDER BY s.updated_at LIMIT $2"
            );
            let rows = query(sql).bind(*kind).bind(limit).fetch_all(&self.pool).await?;
            found.extend(rows.iter().map(|r| EventCandidate {
                kind: kind.to_string(),
                subject_id: r.get("id"),
                hospital_code: r.get("hospital_code"),
                visit_id: r.get("visit_id"),
                state: r.get("state"),
                medfee_fen: r.get("medfee_fen"),
                cash_fen: r.get("cash_fen"),
                captured_fen: r.get("captured_fen"),
                unpaid_fen: r.get("unpaid_fen"),
                settlement_id: r.get("id"),
                invoice_kind: None,
            }));
        }
        // An invoice issued (blue at the click, red at a cancel): its subject is the invoice.
        let sql = "SELECT i.id AS invoice_id, i.kind, s.id, s.hospital_code, s.visit_id, s.state, s.medfee_fen, s.cash_fen, s.captured_fen, s.unpaid_fen \
                   FROM invoices i JOIN settlements s ON s.id = i.settlement_id \
                   WHERE i.issued_at >= (SELECT MIN(p.created_at) FROM webhook_endpoints p WHERE p.hospital_code = i.hospital_code AND p.disabled_at IS NULL) \
                   AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = 'invoice.issued' AND e.subject_id = i.id) ORDER BY i.issued_at LIMIT $1";
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        found.extend(rows.iter().map(|r| EventCandidate {
            kind: "invoice.issued".to_string(),
            subject_id: r.get("invoice_id"),
            hospital_code: r.get("hospital_code"),
            visit_id: r.get("visit_id"),
            state: r.get("state"),
            medfee_fen: r.get("medfee_fen"),
            cash_fen: r.get("cash_fen"),
            captured_fen: r.get("captured_fen"),
            unpaid_fen: r.get("unpaid_fen"),
            settlement_id: r.get("id"),
            invoice_kind: Some(r.get("kind")),
        }));
        found.extend(self.refund_event_candidates(limit).await?);
        Ok(found)
    }

    /// Refunds finished (退费, `app/refunds.rs`) with no event yet: the subject is the refund, the
    /// facts its settlement's (the click's).
    async fn refund_event_candidates(&self, limit: i64) -> StoreResult<Vec<EventCandidate>> {
        let sql = "SELECT r.id AS refund_id, s.id, s.hospital_code, s.visit_id, r.state, s.medfee_fen, s.cash_fen, s.captured_fen, s.unpaid_fen \
                   FROM refunds r JOIN settlements s ON s.id = r.settlement_id WHERE r.state = 'refunded' \
                   AND r.updated_at >= (SELECT MIN(p.created_at) FROM webhook_endpoints p WHERE p.hospital_code = r.hospital_code AND p.disabled_at IS NULL) \
                   AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = 'refund.refunded' AND e.subject_id = r.id) ORDER BY r.updated_at LIMIT $1";
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| EventCandidate {
                kind: "refund.refunded".to_string(),
                subject_id: r.get("refund_id"),
                hospital_code: r.get("hospital_code"),
                visit_id: r.get("visit_id"),
                state: r.get("state"),
                medfee_fen: r.get("medfee_fen"),
                cash_fen: r.get("cash_fen"),
                captured_fen: r.get("captured_fen"),
                unpaid_fen: r.get("unpaid_fen"),
                settlement_id: r.get("id"),
                invoice_kind: None,
            })
            .collect())
    }

    /// Writes an event and a delivery of it to each of the hospital's working endpoints, once: a
    /// second write of the same (kind, subject) changes nothing. Returns whether it was new.
    pub async fn insert_webhook_event(&self, event_id: &str, candidate: &EventCandidate, payload: &str) -> StoreResult<bool> {
        let (event_id, kind, subject, hospital, payload, now) = (
            event_id.to_string(),
            candidate.kind.clone(),
            candidate.subject_id.clone(),
            candidate.hospital_code.clone(),
            payload.to_string(),
            self.now(),
        );
        self.write(move |c| {
            Box::pin(async move {
                let inserted = query(
                    "INSERT INTO webhook_events (id, hospital_code, kind, subject_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, subject_id) DO NOTHING",
                )
                .bind(&event_id)
                .bind(&hospital)
                .bind(kind)
                .bind(subject)
                .bind(payload)
                .bind(&now)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                let endpoints = query("SELECT id FROM webhook_endpoints WHERE hospital_code = $1 AND disabled_at IS NULL")
                    .bind(&hospital)
                    .fetch_all(&mut *c)
                    .await?;
                for endpoint in endpoints {
                    let endpoint_id: String = endpoint.get("id");
                    query(
                        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
                    )
                    .bind(format!("whd_{}", uuid::Uuid::now_v7().simple()))
                    .bind(&event_id)
                    .bind(endpoint_id)
                    .bind(&now)
                    .execute(&mut *c)
                    .await?;
                }
                Ok(true)
            })
        })
        .await
    }

    /// Pending deliveries due now, oldest first.
    pub async fn due_webhook_deliveries(&self, limit: i64) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.status = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at LIMIT $2"
        );
        let rows = query(sql).bind(self.now()).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(delivery_of).collect())
    }

    /// A hospital's deliveries (every hospital's: `None`), newest first.
    pub async fn webhook_deliveries(&self, hospital_code: Option<&str>, limit: i64) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE e.hospital_code = $1 OR $2 ORDER BY d.id DESC LIMIT $3");
        let rows = query(sql).bind(hospital_code.unwrap_or("")).bind(hospital_code.is_none()).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(delivery_of).collect())
    }

    pub async fn webhook_delivery(&self, id: &str) -> StoreResult<Option<WebhookDelivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.id = $1");
        Ok(query(sql).bind(id).fetch_optional(&self.pool).await?.as_ref().map(delivery_of))
    }

    /// Records an attempt: `status` is the new state (`delivered`, `pending` again at `next`, or
    /// `gave_up`), `http_status` / `error` what the endpoint answered.
    pub async fn record_webhook_attempt(
        &self,
        id: &str,
        status: &str,
        next: &str,
        http_status: Option<i64>,
        error: Option<String>,
    ) -> StoreResult<()> {
        let (id, status, next, now) = (id.to_string(), status.to_string(), next.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let delivered_at = (status == "delivered").then(|| now.clone());
                query(
                    "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_status = $3, last_error = $4, delivered_at = $5 WHERE id = $6 AND status = 'pending'",
                )
                .bind(status)
                .bind(next)
                .bind(http_status)
                .bind(error)
                .bind(delivered_at)
                .bind(id)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Sends a delivery again (whatever became of it): pending, due now.
    pub async fn replay_webhook_delivery(&self, id: &str) -> StoreResult<bool> {
        let (id, now) = (id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let changed = query("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                Ok(changed == 1)
            })
        })
        .await
    }
}
