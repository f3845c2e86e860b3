//! How every server of this binary listens (the hub, the insurance center, the bank, the fault
//! proxies): one accept loop that puts a limit on everything a client can hold, so that slow,
//! stalled or idle clients cannot keep a server from the others.
//!
//! - Connections: at most [`ServerLimits::max_connections`], kept under half the process's
//!   descriptor limit (which `raise_descriptor_limit` lifts towards the hard limit at start). One more evicts the connection idle the longest (no request in progress: a
//!   kept-alive connection, one that never sent a request, one still sending its head); when every
//!   connection has a request in progress, the newcomer is answered 503 with `Retry-After`, not
//!   left waiting.
//! - A request's head must arrive within `header_read_timeout`, counted from when the server starts
//!   waiting for it, so this is also how long a kept-alive connection may sit idle. Heads are at
//!   most 64 KiB.
//! - A request's body must arrive within `body_read_timeout` of its head (handlers that read it get
//!   an error of kind `TimedOut`; the hub answers 408).
//! - At most `max_in_flight` requests are handled at once; more wait their turn, first come first
//!   served, up to [`ADMISSION_WAIT`], and are answered 503 with `Retry-After` after that.
//!
//! Connections are served by tasks of their own, as `axum::serve` does: aborting the accept loop
//! stops new connections, not the ones already open. A graceful stop ([`serve_until`]) stops
//! accepting, lets every request in progress finish and closes the idle connections; the task
//! ends when the last connection has closed (the caller bounds the wait).

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower_service::Service;

/// What a server lets each client hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            // A load of 1,000 clients on reqwest's pool held a few more than 1,024 connections
            // at moments (a connection is back in the pool a moment after its answer), and
            // the limit then closed an idle one under a request: 22 of 6,000 visits failed with
            // "connection closed before message completed" (`wugan bench e2e --concurrency 1000`).
            max_connections: 4096,
            max_in_flight: 256,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// The largest request head, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long an evicted connection may finish the answer it is writing.
const EVICTION_GRACE: Duration = Duration::from_secs(5);
/// Connections being answered 503 at once; beyond, a newcomer is closed at once.
const SHEDDING_AT_ONCE: usize = 64;
/// How long a request beyond `max_in_flight` waits for a place before its 503. A burst above
/// the limit is worked a moment later rather than refused: a load of 512 clients on the default
/// 256 places got 95% of its requests refused at once (`wugan bench e2e --concurrency 512`), each
/// refused client coming straight back. Requests still waiting after this are shed: the hub is
/// behind by more than a HIS should wait, and a retry after `Retry-After` is better.
const ADMISSION_WAIT: Duration = Duration::from_secs(2);
/// How long the 503 to a shed connection may take.
const SHED_TIMEOUT: Duration = Duration::from_secs(2);

/// Ctrl-C, or on unix SIGTERM (what systemd, `docker stop` and a CI runner's timeout send): the
/// moment a long-running command stops what it does, and its children with it.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Serves `router` on `listener` in the background, within `limits`, until the task is aborted.
pub fn serve(listener: TcpListener, router: axum::Router, limits: ServerLimits) -> tokio::task::JoinHandle<()> {
    serve_until(listener, router, limits, watch::channel(false).1)
}

/// Like [`serve`], stopping gracefully once `stop` turns true: the task ends when every
/// connection has closed.
pub fn serve_until(
    listener: TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(accept_loop(listener, router, within_descriptor_limit(limits), stop))
}

/// Resolves once `stop` turns true; never if its sender is gone without having said so.
async fn stopping(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(listener: TcpListener, router: axum::Router, limits: ServerLimits, stop: watch::Receiver<bool>) {
    let connections = Arc::new(Connections::new(limits.max_connections));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let shedding = Arc::new(Semaphore::new(SHEDDING_AT_ONCE));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping(stop.clone()) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: wait a little
                // rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Every write goes out at once (no Nagle): a response written in more than one piece (a
        // streamed body, a PDF) would otherwise wait for the client's delayed ACK, up to 40 ms.
        let _ = stream.set_nodelay(true);
        match connections.admit() {
            Some(connection) => {
                let shared = Shared { router: router.clone(), in_flight: in_flight.clone(), limits, stop: stop.clone() };
                let registered = Registered { connections: connections.clone(), connection };
                tokio::spawn(serve_connection(stream, peer, registered, shared));
            }
            None => shed(stream, &shedding),
        }
    }
    // No new connections from here (the listener closes); each open one finishes what it is
    // answering and closes. Wait for the last.
    drop(listener);
    while connections.open() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What every connection of a server shares.
struct Shared {
    router: axum::Router,
    in_flight: Arc<Semaphore>,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, registered: Registered, shared: Shared) {
    let connection = registered.connection.clone();
    let stop = shared.stop.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let busy = Busy::start(connection.clone());
        let in_flight = shared.in_flight.clone();
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut request = request.map(|body| TimedBody::new(body, shared.limits.body_read_timeout));
        let national = is_national(request.uri().path());
        if let Some(merged) = national.then(|| slashes_merged(request.uri())).flatten() {
            *request.uri_mut() = merged;
        }
        let mut router = shared.router.clone();
        async move {
            let _busy = busy;
            match admitted(in_flight).await {
                Some(_permit) => router.call(request).await,
                None => Ok::<_, Infallible>(overloaded("requests", national)),
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(shared.limits.header_read_timeout).max_buf_size(MAX_HEAD_BYTES);
    let serving = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    tokio::select! {
        _ = serving.as_mut() => {}
        _ = registered.connection.evicted.notified() => {
            serving.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(EVICTION_GRACE, serving.as_mut()).await;
        }
        _ = stopping(stop) => {
            // The request in progress is answered (with `connection: close`); an idle one closes.
            serving.as_mut().graceful_shutdown();
            let _ = serving.as_mut().await;
        }
    }
}

/// A place among the requests in flight: at once when there is one, else the first to come free
/// within [`ADMISSION_WAIT`] (the semaphore is fair: first come, first served), else none.
async fn admitted(in_flight: Arc<Semaphore>) -> Option<tokio::sync::OwnedSemaphorePermit> {
    match in_flight.clone().try_acquire_owned() {
        Ok(permit) => Some(permit),
        Err(_) => tokio::time::timeout(ADMISSION_WAIT, in_flight.acquire_owned()).await.ok()?.ok(),
    }
}

/// A path under the drop-in national interface (`/ni/<token>/…`), whose every answer HIS software
/// reads as a national reply.
fn is_national(path: &str) -> bool {
    path.starts_with("/ni/")
}

/// A `/ni/` path with its runs of slashes made one (the query kept): an HIS whose configured base
/// URL ends in `/` posts to `/ni/<token>//fsi/…`, which platforms behind nginx (its
/// `merge_slashes` is on by default) take, and the HIS worked before it pointed at the hub.
/// `None`: nothing to merge.
fn slashes_merged(uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let path = uri.path();
    if !path.contains("//") {
        return None;
    }
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    if let Some(query) = uri.query() {
        merged = format!("{merged}?{query}");
    }
    merged.parse().ok()
}

/// The national error shape (`infcode` -1, answered with HTTP 200 as platforms answer theirs) for
/// a server at its limit of `what`: an HIS reads `infcode` and `err_msg`, never a status.
fn national_overload(what: &str) -> String {
    use wugan_hub::app::national_interface::{national_error, stamped};
    use wugan_hub::clock::Clock;
    let answer = national_error("服务繁忙，请稍后重试", format!("the server is at its limit of {what}; retry shortly (overloaded)"));
    stamped(answer, wugan_hub::clock::SystemClock.now_utc()).to_string()
}

/// 503 with `Retry-After`: the server is at its limit of `what`; under `/ni/`, the national shape.
fn overloaded(what: &str, national: bool) -> Response {
    if national {
        return ([("content-type", "application/json")], national_overload(what)).into_response();
    }
    let body =
        serde_json::json!({"error": {"code": "overloaded", "message": format!("the server is at its limit of {what}; retry shortly")}});
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    response
}

/// Answers a connection over the limit with 503 and closes it, reading no more than its head.
fn shed(mut stream: TcpStream, shedding: &Arc<Semaphore>) {
    let Ok(permit) = shedding.clone().try_acquire_owned() else {
        return; // dropped: closed at once
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(SHED_TIMEOUT, async {
            // The request's head first (what of it comes soon): a client answered before it has
            // sent its request takes the answer for a broken connection.
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            let soon = tokio::time::Instant::now() + SHED_TIMEOUT / 4;
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
                match tokio::time::timeout_at(soon, stream.read(&mut buffer)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buffer[..n]),
                    _ => break,
                }
            }
            stream.write_all(shed_answer(&head).as_bytes()).await?;
            stream.shutdown().await?;
            // Read what else the client sent until it closes, so that closing does not reset the
            // connection before the client has read the answer.
            while stream.read(&mut buffer).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
    });
}

/// What a shed connection is answered, by its request's head: 503, or under `/ni/` the national shape.
fn shed_answer(head: &[u8]) -> String {
    let path = head.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let (status, body) = match is_national(&String::from_utf8_lossy(path)) {
        true => ("200 OK", national_overload("connections")),
        false => (
            "503 Service Unavailable",
            r#"{"error":{"code":"overloaded","message":"the server is at its limit of connections; retry shortly"}}"#.to_string(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The open connections, and which of them may be evicted.
struct Connections {
    max: usize,
    started: Instant,
    table: Mutex<Table>,
}

struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Connection>>,
    /// Open connections not being evicted: the ones the limit counts.
    counted: usize,
}

struct Connection {
    id: u64,
    /// The server's start, which `idle_since_ms` counts from.
    epoch: Instant,
    requests: AtomicUsize,
    /// Since when no request is in progress, in ms since the server started.
    idle_since_ms: AtomicU64,
    evicting: AtomicBool,
    evicted: Notify,
}

impl Connections {
    fn new(max: usize) -> Connections {
        Connections { max, started: Instant::now(), table: Mutex::new(Table { next_id: 0, open: HashMap::new(), counted: 0 }) }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Room for one more connection, made by evicting the one idle the longest if need be.
    fn admit(&self) -> Option<Arc<Connection>> {
        let mut table = self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if table.counted >= self.max {
            // Evicted connections still hold a descriptor until they close: bound those too.
            if table.open.len() > self.max + self.max / 4 {
                return None;
            }
            let idle = table.open.values().filter(|c| !c.evicting.load(Ordering::SeqCst) && c.requests.load(Ordering::SeqCst) == 0);
            let victim = idle.min_by_key(|c| c.idle_since_ms.load(Ordering::SeqCst))?.clone();
            victim.evicting.store(true, Ordering::SeqCst);
            victim.evicted.notify_one();
            table.counted -= 1;
        }
        let id = table.next_id;
        table.next_id += 1;
        let connection = Arc::new(Connection {
            id,
            epoch: self.started,
            requests: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evicting: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        table.open.insert(id, connection.clone());
        table.counted += 1;
        Some(connection)
    }

    /// Connections not closed yet, evicted ones included.
    fn open(&self) -> usize {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).open.len()
    }

    fn remove(&self, connection: &Connection) {
        let mut table = self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if table.open.remove(&connection.id).is_some() && !connection.evicting.load(Ordering::SeqCst) {
            table.counted -= 1;
        }
    }
}

/// A connection in the table, removed when its task ends however it ends.
struct Registered {
    connections: Arc<Connections>,
    connection: Arc<Connection>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.remove(&self.connection);
    }
}

/// A request in progress on a connection (which may not be evicted meanwhile).
struct Busy {
    connection: Arc<Connection>,
}

impl Busy {
    fn start(connection: Arc<Connection>) -> Busy {
        connection.requests.fetch_add(1, Ordering::SeqCst);
        Busy { connection }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now_ms = self.connection.epoch.elapsed().as_millis() as u64;
        self.connection.idle_since_ms.store(now_ms, Ordering::SeqCst);
        self.connection.requests.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request body that fails with `TimedOut` once its deadline passes.
pub struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    started: tokio::time::Instant,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> TimedBody {
        TimedBody { inner, timeout, started: tokio::time::Instant::now(), deadline: None }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.started + self.timeout;
        let sleep = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match std::future::Future::poll(sleep.as_mut(), cx) {
            Poll::Ready(()) => {
                let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
                Poll::Ready(Some(Err(timed_out.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The soft descriptor limit a process raises itself to at most (`raise_descriptor_limit`).
const DESCRIPTORS_WANTED: u64 = 65_536;

/// Raises this process's soft descriptor limit (`ulimit -n`) to its hard limit, at most to
/// [`DESCRIPTORS_WANTED`], as Go's runtime does for every program: many systems start a process at
/// a soft limit of 1,024 while allowing far more, and a server keeps its connections under half
/// of it. Returns the soft limit in force afterwards; a limit that cannot be raised is kept.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let wanted = wanted_soft_limit(limit.rlim_cur as u64, limit.rlim_max as u64);
    if wanted > limit.rlim_cur as u64 {
        let raised = libc::rlimit { rlim_cur: wanted as libc::rlim_t, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct it is given; a refusal leaves the limit as it was.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    }
    descriptor_limit()
}

#[cfg(not(unix))]
pub fn raise_descriptor_limit() -> Option<u64> {
    None
}

/// The soft limit to ask for: the hard one up to [`DESCRIPTORS_WANTED`], never lower than now.
fn wanted_soft_limit(soft: u64, hard: u64) -> u64 {
    soft.max(hard.min(DESCRIPTORS_WANTED))
}

/// `limits` with at most half the process's descriptors for connections: the rest is for the
/// database, the partners, logs, and the other servers of the process.
fn within_descriptor_limit(limits: ServerLimits) -> ServerLimits {
    within(limits, descriptor_limit())
}

fn within(limits: ServerLimits, descriptors: Option<u64>) -> ServerLimits {
    let Some(descriptors) = descriptors else {
        return limits;
    };
    let budget = usize::try_from(descriptors / 2).unwrap_or(usize::MAX).saturating_sub(32).max(8);
    if budget < limits.max_connections {
        tracing::warn!(descriptors, max_connections = budget, "connections limited by the descriptor limit (ulimit -n)");
    }
    ServerLimits { max_connections: limits.max_connections.min(budget), ..limits }
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// The edge's rate limits in words, with how to lift them for a load test (429 beyond them).
pub fn rate_limits_line(api: &wugan_hub::api::EdgeConfig) -> String {
    let per = |rate: Option<wugan_hub::api::limits::Rate>, what: &str| match rate {
        Some(rate) => format!("{} requests/s per {what} (bursts of {})", rate.per_second, rate.burst),
        None => format!("none per {what}"),
    };
    let limits = format!("{}, {}", per(api.rate_per_key, "API key"), per(api.rate_per_address, "client address"));
    match (api.rate_per_key, api.rate_per_address) {
        (None, None) => limits,
        _ => format!("{limits} (answered 429 beyond; a load test lifts them: --rate-per-key 0 --rate-per-address 0)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_national_path_with_a_doubled_slash_is_the_same_path() {
        let merged = |uri: &str| slashes_merged(&uri.parse().expect("a URI")).map(|u| u.to_string());
        assert_eq!(
            merged("/ni/abc//fsi/api/rsfComIfsService/callService").as_deref(),
            Some("/ni/abc/fsi/api/rsfComIfsService/callService")
        );
        assert_eq!(merged("/ni//abc///fsi/x?a=1").as_deref(), Some("/ni/abc/fsi/x?a=1"));
        assert_eq!(merged("/ni/abc/fsi/x"), None);
    }

    #[test]
    fn an_hiss_national_message_over_the_limit_is_answered_in_the_national_shape() {
        // Session 32's review: HIS software reads `infcode`, and a 503 with `{"error": …}` is none.
        let shed = shed_answer(b"POST /ni/abc/fsi/api/rsfComIfsService/callService HTTP/1.1\r\nhost: hub\r\n\r\n");
        assert!(shed.starts_with("HTTP/1.1 200 OK\r\n"), "{shed}");
        let body: serde_json::Value = serde_json::from_str(shed.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
        assert_eq!(body["infcode"].as_i64(), Some(-1), "{body}");
        assert!(body["err_msg"].as_str().is_some_and(|m| m.contains("connections")) && body["inf_refmsgid"].is_string(), "{body}");
        let api = shed_answer(b"POST /api/v1/visits HTTP/1.1\r\n\r\n");
        assert!(api.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && api.contains(r#""code":"overloaded""#), "{api}");
        assert_eq!(overloaded("requests", true).status(), StatusCode::OK);
        assert_eq!(overloaded("requests", false).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    fn busy(c: &Arc<Connection>) {
        c.requests.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn one_connection_over_the_limit_evicts_the_longest_idle_or_is_refused() {
        let connections = Connections::new(2);
        let first = connections.admit().expect("room");
        let second = connections.admit().expect("room");
        second.idle_since_ms.store(1, Ordering::SeqCst);
        // Full: the third evicts the one idle the longest.
        let third = connections.admit().expect("an idle one makes room");
        assert!(first.evicting.load(Ordering::SeqCst) && !second.evicting.load(Ordering::SeqCst));
        // When every counted connection is busy, there is no room.
        busy(&second);
        busy(&third);
        assert!(connections.admit().is_none());
        // An evicted connection that closes frees nothing the limit counted; a counted one does.
        connections.remove(&first);
        assert!(connections.admit().is_none());
        connections.remove(&second);
        assert!(connections.admit().is_some());
    }

    #[test]
    fn connections_keep_under_half_the_descriptor_limit() {
        let limits = ServerLimits::default();
        let max = |descriptors| within(limits, descriptors).max_connections;
        assert_eq!(max(None), 4096);
        assert_eq!(max(Some(65_536)), 4096);
        assert_eq!(max(Some(8_192)), 4064);
        assert_eq!(max(Some(1024)), 480);
        assert_eq!(max(Some(256)), 96);
        assert_eq!(max(Some(16)), 8);
    }

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one_within_bounds() {
        assert_eq!(wanted_soft_limit(1024, 524_288), 65_536, "a common default: soft 1,024 of a large hard limit");
        assert_eq!(wanted_soft_limit(1024, 4096), 4096, "never above the hard limit");
        assert_eq!(wanted_soft_limit(1024, u64::MAX), 65_536, "an unlimited hard limit");
        assert_eq!(wanted_soft_limit(100_000, 200_000), 100_000, "never lowered");
        assert_eq!(wanted_soft_limit(1024, 1024), 1024);
    }

    #[test]
    fn evicted_connections_still_closing_are_bounded_too() {
        let connections = Connections::new(4);
        let mut admitted = Vec::new();
        while let Some(c) = connections.admit() {
            admitted.push(c);
            assert!(admitted.len() < 100, "no bound");
        }
        // 4 counted, and at most a quarter more on their way out.
        assert_eq!(admitted.len(), 4 + 4 / 4 + 1);
    }
}
