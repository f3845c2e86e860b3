//! Text messages to patients (sign-in codes; notifications later) go through an [`SmsSink`]: a
//! file in the data folder by default (`DATA_DIR/sms-outbox.log`, one JSON line per message, so a
//! developer and the browser test read the code there), or an SMS gateway over HTTP in production.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Where text messages go. `send` answers once the message is handed over (not delivered).
pub trait SmsSink: Send + Sync {
    fn send<'a>(&'a self, mobile: &'a str, text: &'a str, at: &'a str) -> SendFuture<'a>;
}

/// No sink configured (an `App` built by hand): messages are dropped with a warning, their text
/// unlogged (it may hold a code).
pub struct NoSms;

impl SmsSink for NoSms {
    fn send<'a>(&'a self, _mobile: &'a str, _text: &'a str, _at: &'a str) -> SendFuture<'a> {
        Box::pin(async {
            tracing::warn!("a text message was dropped: no SMS sink is configured");
            Ok(())
        })
    }
}

/// Appends each message to a file as a JSON line `{"at", "to", "text"}` (the development sink).
pub struct FileSms {
    path: PathBuf,
    lock: std::sync::Mutex<()>,
}

impl FileSms {
    pub fn new(path: impl Into<PathBuf>) -> FileSms {
        FileSms { path: path.into(), lock: std::sync::Mutex::new(()) }
    }

    /// `DATA_DIR/sms-outbox.log`.
    pub fn in_data_dir(dir: &std::path::Path) -> FileSms {
        FileSms::new(dir.join("sms-outbox.log"))
    }
}

impl SmsSink for FileSms {
    fn send<'a>(&'a self, mobile: &'a str, text: &'a str, at: &'a str) -> SendFuture<'a> {
        let line = serde_json::json!({"at": at, "to": mobile, "text": text}).to_string();
        Box::pin(async move {
            // One short append under a lock: lines from concurrent sends never interleave.
            let _guard = self.lock.lock().map_err(|_| "the SMS file's lock is poisoned".to_string())?;
            // Phone numbers and live sign-in codes: the owner's only, from its creation.
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&self.path).map_err(|e| e.to_string())?;
            writeln!(file, "{line}").map_err(|e| e.to_string())
        })
    }
}

/// Posts each message as JSON `{"to", "text"}` to an SMS gateway, with a bearer token.
pub struct HttpSms {
    url: String,
    token: String,
    client: reqwest::Client,
}

impl HttpSms {
    pub fn new(url: impl Into<String>, token: impl Into<String>, timeout: std::time::Duration) -> Result<HttpSms, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(HttpSms { url: url.into(), token: token.into(), client })
    }
}

impl SmsSink for HttpSms {
    fn send<'a>(&'a self, mobile: &'a str, text: &'a str, _at: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let body = serde_json::json!({"to": mobile, "text": text});
            let reply = self.client.post(&self.url).bearer_auth(&self.token).json(&body).send().await.map_err(|e| e.to_string())?;
            if reply.status().is_success() {
                Ok(())
            } else {
                Err(format!("the SMS gateway answered {}", reply.status()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn the_outbox_file_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("wugan-sms-{}.log", uuid::Uuid::new_v4().simple()));
        FileSms::new(&path).send("13800138000", "您的验证码 123456", "2026-12-02T08:00:00Z").await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let _ = std::fs::remove_file(&path);
    }
}
