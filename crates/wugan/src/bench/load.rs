//! The built-in load generator: insured patients, their sign-ups (setup, not timed), then visits
//! (register + fees + the doctor's click) from a fixed number of workers, each visit timed whole.

use crate::his::{HisClient, Reply};
use crate::rng::XorShift;
use serde_json::{json, Value};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wugan_domain::Fen;

/// How the load generator reaches the hub.
#[derive(Clone)]
pub enum Channel {
    /// HTTP on loopback, as a hospital's HIS does.
    Http(Arc<HisClient>),
    /// The hub's own router, called in this process: no socket between the HIS and the hub, the
    /// same authentication, idempotency records and use cases behind it.
    InProcess { router: axum::Router, api_key: String },
}

impl Channel {
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> anyhow::Result<Reply> {
        match self {
            Channel::Http(his) => his.post_with_key(path, key, body).await,
            Channel::InProcess { router, api_key } => {
                let request = axum::http::Request::post(path)
                    .header("authorization", format!("Bearer {api_key}"))
                    .header("idempotency-key", key)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body.to_string()))?;
                let response = tower::ServiceExt::oneshot(router.clone(), request).await?;
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
                Ok(Reply { status, body })
            }
        }
    }
}

/// Insured persons for the built-in insurance center: two of three employees with a personal
/// account, the rest residents without one. Returns the file and their ID numbers.
pub fn persons_file(dir: &Path, count: usize) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let path = dir.join("persons.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut rng = XorShift::new(0xBE7C);
    let mut certnos = Vec::with_capacity(count);
    for i in 0..count {
        let certno = format!("44030119{i:010}");
        let (insutype, psn_type, balc) = if i % 3 == 2 { ("390", "1501", 0) } else { ("310", "1101", (rng.below(200_000)) as i64) };
        let line = json!({"psn_no": format!("44030090{i:012}"), "certno": certno, "psn_name": format!("患者{i}"), "gend": "1",
                          "brdy": "1980-01-01", "insutype": insutype, "psn_type": psn_type, "insuplc_admdvs": "440300",
                          "balc": Fen(balc).to_yuan_string()});
        writeln!(file, "{line}")?;
        certnos.push(certno);
    }
    file.flush()?;
    Ok((path, certnos))
}

/// Signs every patient up once: two of three on a credit line, the rest with a debit card.
pub async fn sign_up_all(operator: Arc<HisClient>, certnos: &[String], workers: usize) -> anyhow::Result<()> {
    let certnos: Arc<Vec<String>> = Arc::new(certnos.to_vec());
    let replies = pool(workers, certnos.len(), None, move |i| {
        let (operator, certnos) = (operator.clone(), certnos.clone());
        async move {
            let payment = if i % 3 == 1 {
                json!({"method": "debit_card", "bank_code": "BANK01", "card_no": format!("62220202{i:011}")})
            } else {
                json!({"method": "credit_line", "bank_code": "BANK01"})
            };
            let body = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": certnos[i], "use_personal_account": true, "payment": payment});
            (i, operator.post_with_key("/api/v1/agreements", &format!("bench-signup-{i}"), &body).await)
        }
    })
    .await;
    for (i, reply) in replies {
        match reply {
            Ok(r) if r.ok() => {}
            Ok(r) => anyhow::bail!("sign-up {i} refused: {} {}", r.code().unwrap_or("?"), r.message()),
            Err(e) => anyhow::bail!("sign-up {i} not answered: {e:#}"),
        }
    }
    Ok(())
}

/// A settlement the hub acknowledged to the doctor's click.
#[derive(Clone, Debug)]
pub struct Ack {
    pub visit_id: String,
    pub settlement_id: String,
}

/// One timed visit: how long it took, and what came of it (`Err` names the step and the code).
pub struct Sample {
    pub latency: Duration,
    pub outcome: Result<Ack, String>,
}

/// Visits `0..limit` (or until `deadline`), `workers` at a time; `done` is called after each.
pub async fn run_visits(
    channel: Channel,
    certnos: Arc<Vec<String>>,
    workers: usize,
    limit: usize,
    deadline: Option<Instant>,
    done: impl Fn() + Send + Sync + 'static,
) -> Vec<Sample> {
    let done = Arc::new(done);
    pool(workers, limit, deadline, move |n| {
        let (channel, certnos, done) = (channel.clone(), certnos.clone(), done.clone());
        async move {
            let certno = &certnos[n % certnos.len()];
            let started = Instant::now();
            let outcome = one_visit(&channel, n, certno).await;
            done();
            Sample { latency: started.elapsed(), outcome }
        }
    })
    .await
}

async fn one_visit(channel: &Channel, n: usize, certno: &str) -> Result<Ack, String> {
    let visit_no = format!("BENCH{n:09}");
    let step = |name: &str, reply: anyhow::Result<Reply>| match reply {
        Ok(r) if r.ok() => Ok(r),
        Ok(r) => Err(format!("{name}: {}", r.code().unwrap_or("?"))),
        // Why, in the transport's words at its root ("connection closed before message completed"…):
        // a load run's errors say what to look at.
        Err(e) => Err(format!("{name}: no answer ({})", e.root_cause())),
    };
    let register = json!({"ipt_otp_no": visit_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno});
    let reg = step("registration", channel.post("/api/v1/visits", &format!("{visit_no}-reg"), &register).await)?;
    let visit_id = reg.body["id"].as_str().unwrap_or_default().to_string();
    let lines = crate::demo::visit_lines(&mut XorShift::new(n as u64), &visit_no);
    let fees_path = format!("/api/v1/visits/{visit_id}/fees");
    step("fee upload", channel.post(&fees_path, &format!("{visit_no}-fees"), &json!({"lines": lines})).await)?;
    let click_path = format!("/api/v1/visits/{visit_id}/settlement");
    let click = step("settlement", channel.post(&click_path, &format!("{visit_no}-click"), &json!({})).await)?;
    match click.body["state"].as_str() {
        Some("settled" | "settled_unpaid") => {}
        other => return Err(format!("settlement: {}", other.unwrap_or("?"))),
    }
    Ok(Ack { visit_id, settlement_id: click.body["id"].as_str().unwrap_or_default().to_string() })
}

/// Runs `work(0..limit)` on `workers` tasks, each taking the next number until `limit` or
/// `deadline`. Results come back in no particular order.
pub async fn pool<T, F, Fut>(workers: usize, limit: usize, deadline: Option<Instant>, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.clamp(1, limit.max(1)) {
        let (next, work) = (next.clone(), work.clone());
        tasks.spawn(async move {
            let mut results = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    return results;
                }
                results.push(work(n).await);
            }
        });
    }
    let mut all = Vec::with_capacity(limit.min(1 << 20));
    while let Some(joined) = tasks.join_next().await {
        // A worker that panicked loses its own results only; the others are kept.
        all.extend(joined.unwrap_or_default());
    }
    all
}

/// The end check: every acknowledged settlement is found again, as acknowledged, by reading its
/// visit back. Returns how many are missing.
pub async fn missing_settlements(his: Arc<HisClient>, acks: Vec<Ack>, workers: usize) -> usize {
    let acks = Arc::new(acks);
    let found = pool(workers, acks.len(), None, move |i| {
        let (his, acks) = (his.clone(), acks.clone());
        async move {
            let ack = &acks[i];
            match his.get(&format!("/api/v1/visits/{}", ack.visit_id)).await {
                Ok(r) if r.ok() => {
                    let s = &r.body["settlement"];
                    s["id"].as_str() == Some(ack.settlement_id.as_str())
                        && matches!(s["state"].as_str(), Some("settled" | "settled_unpaid"))
                }
                _ => false,
            }
        }
    })
    .await;
    found.iter().filter(|f| !**f).count()
}

/// Latency at quantile `q` (0 to 1) of sorted samples, by nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        let check = |samples: &[u64], q: f64, expect: u64| {
            assert_eq!(quantile(&ms(samples), q), Duration::from_millis(expect), "{q} of {samples:?}");
        };
        check(&[], 0.5, 0);
        check(&[7], 0.99, 7);
        check(&[1, 2, 3, 4], 0.5, 2);
        check(&[1, 2, 3, 4], 0.99, 4);
        check(&(1..=100).collect::<Vec<_>>(), 0.99, 99);
        check(&(1..=1000).collect::<Vec<_>>(), 0.5, 500);
    }

    #[tokio::test]
    async fn the_pool_does_each_number_once_and_stops_at_the_limit() {
        let mut got = pool(4, 10, None, |n| async move { n }).await;
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(pool(4, 0, None, |n| async move { n }).await.is_empty());
    }
}
