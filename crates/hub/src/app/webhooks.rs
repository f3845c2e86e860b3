//! Webhooks to a hospital's HIS, so that it need not poll: the hospital registers an endpoint; the
//! worker (`spawn_webhooks`, beside the recovery worker) turns settlements that reached a final
//! state, refunds finished, inpatient stays settled, cancelled or with their settlement cancelled
//! (`store::stay_webhooks`), and invoices issued, into events (the outbox, `store::webhooks`), and
//! posts each to each endpoint, signed like
//! Stripe's (`Wugan-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, checked
//! by the HIS within 5 minutes). A delivery that is not answered 2xx is retried with backoff
//! (30 s, doubling, at most 6 h apart) for 3 days, then given up; any delivery can be replayed.

use super::commands::text_not_blank;
use super::*;
use crate::store::{EventCandidate, WebhookDelivery, WebhookEndpoint};
use serde::Serialize;
use std::sync::Arc;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Wugan-Signature";
/// How long deliveries are retried before they are given up.
pub const RETRY_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);
const FIRST_RETRY: Duration = Duration::from_secs(30);
const MAX_RETRY_GAP: Duration = Duration::from_secs(6 * 3600);
/// Events written and deliveries tried per pass at most: a backlog drains over several passes.
const PER_PASS: i64 = 100;
/// How long an endpoint has to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointRequest {
    /// Where events are posted: an http:// or https:// URL.
    #[schema(schema_with = text_not_blank::<500>)]
    pub url: String,
}

/// An endpoint just registered: its signing secret is shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NewEndpointView {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub created_at: String,
}

/// When the attempt after `attempts` failed ones is due: 30 s, doubling, at most 6 h apart.
pub fn retry_delay(attempts: i64) -> Duration {
    let doublings = attempts.clamp(0, 20) as u32;
    FIRST_RETRY.saturating_mul(2u32.saturating_pow(doublings)).min(MAX_RETRY_GAP)
}

/// The event's JSON as sent: its id, type, time and the settlement's facts, and the invoice's for
/// invoice.issued, the refund's id for refund.refunded (no personal data).
fn event_payload(event_id: &str, c: &EventCandidate, created: &str) -> String {
    json!({
        "id": event_id,
        "type": c.kind,
        "created": created,
        "data": {
            "hospital_code": c.hospital_code,
            "visit_id": c.visit_id,
            "settlement_id": c.settlement_id,
            "invoice_id": c.invoice_kind.as_ref().map(|_| &c.subject_id),
            "invoice_kind": c.invoice_kind,
            "refund_id": (c.kind == "refund.refunded").then_some(&c.subject_id),
            "state": c.state,
            "medfee_fen": c.medfee_fen,
            "cash_fen": c.cash_fen,
            "captured_fen": c.captured_fen,
            "unpaid_fen": c.unpaid_fen,
        }
    })
    .to_string()
}

impl App {
    pub async fn add_webhook_endpoint(&self, hospital: &str, req: NewEndpointRequest) -> Result<NewEndpointView, AppError> {
        let url = req.url.trim().to_string();
        let parsed = reqwest::Url::parse(&url).map_err(|_| AppError::invalid("bad_url", "url is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(AppError::invalid("bad_url", "url is an http:// or https:// URL with a host"));
        }
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
        let secret = format!("whsec_{}", hex::encode(secret));
        let id = new_id("whe");
        self.store.insert_webhook_endpoint(&id, hospital, &url, &self.config.data_key.seal(&secret)?).await?;
        Ok(NewEndpointView { id, url, secret, created_at: self.now() })
    }

    pub async fn webhook_endpoints(&self, hospital: Option<&str>) -> Result<Vec<WebhookEndpoint>, AppError> {
        Ok(self.store.webhook_endpoints(hospital).await?)
    }

    pub async fn webhook_deliveries(&self, hospital: Option<&str>) -> Result<Vec<WebhookDelivery>, AppError> {
        Ok(self.store.webhook_deliveries(hospital, 200).await?)
    }

    /// Sends a delivery again at the next pass; another hospital's answers like a missing one.
    pub async fn replay_webhook(&self, hospital: Option<&str>, id: &str) -> Result<WebhookDelivery, AppError> {
        let missing = || AppError::not_found("delivery_not_found", format!("no webhook delivery {id}"));
        let delivery = self.store.webhook_delivery(id).await?.ok_or_else(missing)?;
        if hospital.is_some_and(|h| h != delivery.hospital_code) {
            return Err(missing());
        }
        self.store.replay_webhook_delivery(id).await?;
        self.store.webhook_delivery(id).await?.ok_or_else(missing)
    }

    /// Writes the events owed; returns how many were new.
    pub async fn webhook_outbox_pass(&self) -> Result<usize, AppError> {
        let mut written = 0;
        for candidate in self.store.webhook_event_candidates(PER_PASS).await? {
            let event_id = new_id("evt");
            let payload = event_payload(&event_id, &candidate, &self.now());
            written += usize::from(self.store.insert_webhook_event(&event_id, &candidate, &payload).await?);
        }
        // A stay's events carry their own data (the stay, its settlement's money), built by the scan.
        for (candidate, data) in self.store.stay_webhook_event_candidates(PER_PASS).await? {
            let event_id = new_id("evt");
            let payload = json!({"id": event_id, "type": candidate.kind, "created": self.now(), "data": data}).to_string();
            written += usize::from(self.store.insert_webhook_event(&event_id, &candidate, &payload).await?);
        }
        Ok(written)
    }

    /// Tries every delivery due; returns how many were delivered.
    pub async fn deliver_webhooks(&self, http: &reqwest::Client) -> Result<usize, AppError> {
        let mut delivered = 0;
        for d in self.store.due_webhook_deliveries(PER_PASS).await? {
            let secret = self.config.data_key.open(&d.secret_enc)?;
            let t = self.store.clock.now_utc().unix_timestamp();
            let signature = wugan_bank_protocol::signing::sign_callback(&secret, t, d.payload.as_bytes());
            let sent = http
                .post(&d.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(d.payload.clone())
                .timeout(DELIVERY_TIMEOUT)
                .send()
                .await;
            let (http_status, error) = match sent {
                Ok(r) if r.status().is_success() => (Some(i64::from(r.status().as_u16())), None),
                Ok(r) => (Some(i64::from(r.status().as_u16())), Some(format!("answered {}", r.status().as_u16()))),
                Err(e) => (None, Some(if e.is_timeout() { "no answer in time".to_string() } else { "could not connect".to_string() })),
            };
            let now = self.store.clock.now_utc();
            let (status, next) = match &error {
                None => ("delivered", now),
                Some(_) => {
                    let next = now + retry_delay(d.attempts);
                    // Stored times compare as text: past the window when created before next - window.
                    if d.created_at < crate::clock::timestamp(next - RETRY_WINDOW) {
                        ("gave_up", now)
                    } else {
                        ("pending", next)
                    }
                }
            };
            delivered += usize::from(error.is_none());
            self.store.record_webhook_attempt(&d.id, status, &crate::clock::timestamp(next), http_status, error).await?;
        }
        Ok(delivered)
    }
}

/// The webhook worker: writes the events owed and tries the deliveries due every `every`, until
/// `stop` says so (between passes).
pub fn spawn_webhooks(app: Arc<App>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while !*stop.borrow() {
            if let Err(e) = app.webhook_outbox_pass().await {
                tracing::warn!(code = e.code(), "webhook events not written");
            }
            if let Err(e) = app.deliver_webhooks(&http).await {
                tracing::warn!(code = e.code(), "webhooks not delivered");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_30_seconds_to_at_most_6_hours() {
        let minutes = |attempts| retry_delay(attempts).as_secs() / 60;
        assert_eq!(retry_delay(0), Duration::from_secs(30));
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!((minutes(4), minutes(9), minutes(10), minutes(50)), (8, 256, 360, 360));
        // Attempts within the 3-day window: 30 s doubling to 6 h, then every 6 h.
        let (mut elapsed, mut attempts) = (Duration::ZERO, 0);
        while elapsed + retry_delay(attempts) <= RETRY_WINDOW {
            elapsed += retry_delay(attempts);
            attempts += 1;
        }
        assert_eq!(attempts, 20, "retries in 3 days after the first try");
    }
}
