//! How the partner clients reach a partner: over HTTP (production, every test, `wugan bench e2e`),
//! or by handing the request to the partner's own router in this process (`wugan bench core`,
//! to show the hub's ceiling without sockets). The request and the reply are the same bytes
//! either way — signed headers, envelope, status — so a client cannot tell the two apart, and
//! neither can the partner.

use axum::body::Body;
use axum::http::{Method, Request};
use std::time::Duration;

/// A reply as the client reads it.
pub struct WireReply {
    pub status: u16,
    pub body: axum::body::Bytes,
}

#[derive(Clone)]
pub enum Wire {
    Http(reqwest::Client),
    /// The partner's router, called in this process.
    InProcess {
        router: axum::Router,
        timeout: Duration,
    },
}

impl Wire {
    pub fn http(timeout: Duration) -> Wire {
        Wire::Http(reqwest::Client::builder().timeout(timeout).build().unwrap_or_default())
    }

    /// Sends one request; `Err` is a transport failure (nothing readable came back).
    pub async fn send(&self, method: Method, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<WireReply, String> {
        self.send_within(method, url, headers, body, None).await
    }

    /// [`Wire::send`], waiting `within` for the answer instead of the wire's own timeout.
    pub async fn send_within(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        within: Option<Duration>,
    ) -> Result<WireReply, String> {
        match self {
            Wire::Http(http) => {
                let mut request = http.request(method, url).header("content-type", "application/json").body(body);
                if let Some(within) = within {
                    request = request.timeout(within);
                }
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let body = response.bytes().await.map_err(|e| format!("HTTP {status}, reply cut short: {e}"))?;
                Ok(WireReply { status, body })
            }
            Wire::InProcess { router, timeout } => {
                let mut request = Request::builder().method(method).uri(path_of(url)).header("content-type", "application/json");
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let request = request.body(Body::from(body)).map_err(|e| format!("request not built: {e}"))?;
                let call = async {
                    let response = tower::ServiceExt::oneshot(router.clone(), request).await.map_err(|e| e.to_string())?;
                    let status = response.status().as_u16();
                    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
                    Ok(WireReply { status, body })
                };
                tokio::time::timeout(within.unwrap_or(*timeout), call).await.map_err(|_| "no answer in time".to_string())?
            }
        }
    }
}

/// The path and query of a URL (`http://host:port/a/b?c` → `/a/b?c`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    url[after_scheme..].find('/').map(|i| &url[after_scheme + i..]).unwrap_or("/")
}

#[cfg(test)]
#[test]
fn a_request_in_process_keeps_the_path_and_query() {
    let check = |url: &str, path: &str| assert_eq!(path_of(url), path, "{url}");
    check("http://127.0.0.1:4000/bank/v1/operations/x:auth", "/bank/v1/operations/x:auth");
    check("http://h/fsi/api/rsfComIfsService/callService?a=1", "/fsi/api/rsfComIfsService/callService?a=1");
    check("http://h", "/");
}
