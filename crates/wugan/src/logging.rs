//! Where the binary's logs go: stderr, filtered by `WUGAN_LOG` (`info`, `warn,wugan=debug`, …), as
//! text (coloured only on a terminal: a file or a journal gets no escape codes) or, with
//! `WUGAN_LOG_FORMAT=json`, one JSON object per line for a log collector. Events carry no personal
//! data: the code logs ids, counts and codes, never names or ID numbers.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `WUGAN_LOG_FORMAT`: `json`, else text.
    pub fn from_env() -> LogFormat {
        match std::env::var("WUGAN_LOG_FORMAT").map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Installs the process's logger on stderr; `default_filter` applies when `WUGAN_LOG` is unset.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WUGAN_LOG").unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match LogFormat::from_env() {
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

/// One JSON object per event: `ts`, `level`, `target`, `message` and the event's fields.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        writeln!(writer, "{}", json_line(&ts, event))
    }
}

fn json_line(ts: &str, event: &Event<'_>) -> serde_json::Value {
    let meta = event.metadata();
    let mut line = serde_json::Map::new();
    line.insert("ts".into(), ts.into());
    line.insert("level".into(), meta.level().as_str().into());
    line.insert("target".into(), meta.target().into());
    event.record(&mut Fields(&mut line));
    serde_json::Value::Object(line)
}

/// Copies an event's fields into a JSON object, numbers and booleans as such.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber with [`JsonLines`] writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_json_object_on_its_own_line_with_typed_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).event_format(JsonLines).with_writer(move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(released = 3, drained = true, key = %"k_1", "requests \"cut\" short");
            tracing::info!("stopped");
        });
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "requests \"cut\" short");
        assert_eq!((lines[0]["released"].as_u64(), lines[0]["drained"].as_bool()), (Some(3), Some(true)));
        assert_eq!(lines[0]["key"], "k_1");
        assert!(lines[1]["ts"].as_str().is_some_and(|ts| ts.contains('T')), "{}", lines[1]);
        assert!(!text.contains('\u{1b}'), "no escape codes");
    }
}
