//! Slow, stalled and idle clients cannot keep the hub from the others: slow headers and stalled
//! bodies are cut at their timeouts, 1,000 idle sockets do not stop `/health` or a hospital's
//! request, and a server whose every connection is busy answers 503 with Retry-After at once
//! instead of leaving the newcomer waiting. Run with `--nocapture` to see the measurements.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wugan::server::ServerLimits;
use wugan::system::{self, System};

mod common;

const TIMEOUT: Duration = Duration::from_secs(2);

async fn hub(limits: ServerLimits) -> (System, common::TempDir) {
    let (mut opts, dir) = common::fresh_options("slow").await;
    opts.edge.server = limits;
    (system::start(&opts).await.expect("system starts"), dir)
}

fn limits(max_connections: usize, max_in_flight: usize) -> ServerLimits {
    ServerLimits { max_connections, max_in_flight, header_read_timeout: TIMEOUT, body_read_timeout: TIMEOUT }
}

fn address(sys: &System) -> String {
    sys.hub_url.trim_start_matches("http://").to_string()
}

/// A client that opens a new connection for every request, as a newcomer would.
fn newcomer() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build().unwrap()
}

/// Times `n` requests of a newcomer: every answer's status, and the slowest.
async fn serve_newcomers(sys: &System, n: usize) -> (Vec<u16>, Duration) {
    let http = newcomer();
    let key = &sys.credentials.hospitals[0].api_key;
    let (mut statuses, mut slowest) = (Vec::new(), Duration::ZERO);
    for i in 0..n {
        let started = Instant::now();
        let request = if i % 2 == 0 {
            http.get(format!("{}/health", sys.hub_url))
        } else {
            http.get(format!("{}/api/v1/visits/vis_none", sys.hub_url)).bearer_auth(key)
        };
        let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
        statuses.push(status);
        slowest = slowest.max(started.elapsed());
    }
    (statuses, slowest)
}

/// Reads until the server closes the connection (or `limit` passes since `started`): what it
/// sent, and when since `started`.
async fn until_closed(stream: &mut TcpStream, started: Instant, limit: Duration) -> (String, Duration) {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    (String::from_utf8_lossy(&answer).to_string(), started.elapsed())
}

fn stalled_body_head(sys: &System) -> String {
    format!(
        "POST /api/v1/visits HTTP/1.1\r\nhost: hub\r\nauthorization: Bearer {}\r\nidempotency-key: stall\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"ipt_",
        sys.credentials.hospitals[0].api_key
    )
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_connections_are_cut_at_their_timeouts() {
    let (sys, _dir) = hub(limits(1024, 256)).await;
    let started = Instant::now();
    let mut slow_head = TcpStream::connect(address(&sys)).await.unwrap();
    slow_head.write_all(b"GET /health HTTP/1.1\r\nhost: hub\r\nx-slow: ").await.unwrap();
    let mut stalled_body = TcpStream::connect(address(&sys)).await.unwrap();
    stalled_body.write_all(stalled_body_head(&sys).as_bytes()).await.unwrap();
    let mut kept_alive = TcpStream::connect(address(&sys)).await.unwrap();
    kept_alive.write_all(b"GET /health HTTP/1.1\r\nhost: hub\r\n\r\n").await.unwrap();
    let mut silent = TcpStream::connect(address(&sys)).await.unwrap();

    // Meanwhile, everyone else is served.
    let (statuses, slowest) = serve_newcomers(&sys, 20).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 404), "{statuses:?}");

    let limit = TIMEOUT * 3;
    let ((head_answer, head_cut), (body_answer, body_cut), (alive_answer, alive_cut), (_, silent_cut)) = tokio::join!(
        until_closed(&mut slow_head, started, limit),
        until_closed(&mut stalled_body, started, limit),
        until_closed(&mut kept_alive, started, limit),
        until_closed(&mut silent, started, limit),
    );
    println!("timeouts {TIMEOUT:?}: slow head closed after {head_cut:?}, stalled body answered after {body_cut:?}, kept-alive idle closed after {alive_cut:?}, silent closed after {silent_cut:?}; newcomers meanwhile: slowest of 20 {slowest:?}");
    let about_the_timeout = |cut: Duration| cut >= TIMEOUT - Duration::from_millis(100) && cut < TIMEOUT + Duration::from_secs(1);
    assert!(head_answer.is_empty() && about_the_timeout(head_cut), "a slow head is cut: {head_answer:?} after {head_cut:?}");
    assert!(body_answer.starts_with("HTTP/1.1 408") && body_answer.contains("body_timeout"), "{body_answer:?}");
    assert!(about_the_timeout(body_cut), "a stalled body is answered at its timeout: {body_cut:?}");
    assert!(
        alive_answer.starts_with("HTTP/1.1 200") && about_the_timeout(alive_cut),
        "an idle kept-alive connection is closed: {alive_cut:?}"
    );
    assert!(about_the_timeout(silent_cut), "a connection that never sends is closed: {silent_cut:?}");
    assert!(slowest < Duration::from_secs(1), "newcomers waited {slowest:?}");
}

#[tokio::test]
async fn a_thousand_idle_sockets_do_not_stop_the_others() {
    let max_connections = 200;
    let (sys, _dir) = hub(limits(max_connections, 256)).await;
    let (_, before) = serve_newcomers(&sys, 20).await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(address(&sys)).await.expect("the hub accepts"));
    }
    let opening = opened.elapsed();
    let (statuses, during) = serve_newcomers(&sys, 40).await;
    // The server closed the idle sockets it evicted to make room.
    let mut closed = 0;
    for socket in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(2), socket.read(&mut byte)).await {
            closed += 1;
        }
    }
    println!("1,000 idle sockets (limit {max_connections} connections) opened in {opening:?}; {closed} closed by the hub to make room; newcomers' slowest answer: {before:?} before, {during:?} among the idle sockets");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 404), "{statuses:?}");
    assert!(closed >= 1000 - max_connections, "idle sockets evicted: {closed}");
    assert!(during < Duration::from_secs(1), "newcomers waited {during:?}");
}

#[tokio::test]
async fn when_every_connection_is_busy_a_newcomer_gets_503_at_once() {
    let (sys, _dir) = hub(limits(20, 256)).await;
    let mut busy = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(address(&sys)).await.unwrap();
        stream.write_all(stalled_body_head(&sys).as_bytes()).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // their heads are read: each has a request in progress
    let started = Instant::now();
    let refused = newcomer().get(format!("{}/health", sys.hub_url)).send().await.expect("an answer, not a hang");
    let waited = started.elapsed();
    println!("20 connections with stalled bodies (limit 20): a newcomer was answered {} in {waited:?}", refused.status());
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default()), Some("1"));
    assert!(waited < Duration::from_secs(1));
    // When the stalled bodies time out, the server is free again.
    for stream in &mut busy {
        until_closed(stream, Instant::now(), TIMEOUT * 3).await;
    }
    let (statuses, _) = serve_newcomers(&sys, 4).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 404), "{statuses:?}");
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_wait_their_turn_then_get_503() {
    // Bodies may stall longer than a newcomer waits for a place (2 s).
    let (sys, _dir) = hub(ServerLimits { body_read_timeout: Duration::from_secs(20), ..limits(1024, 5) }).await;
    let mut busy = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(address(&sys)).await.unwrap();
        stream.write_all(stalled_body_head(&sys).as_bytes()).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Every place is held by a stalled body (their timeout is longer than the wait): shed.
    let refused = newcomer().get(format!("{}/health", sys.hub_url)).send().await.expect("an answer, not a hang");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("overloaded"));
    // A place that comes free while a newcomer waits is its: the newcomer is worked, not refused.
    let waiting = tokio::spawn({
        let url = format!("{}/health", sys.hub_url);
        async move { newcomer().get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(busy.pop());
    assert_eq!(waiting.await.unwrap().expect("an answer"), 200, "worked once a place came free");
}
