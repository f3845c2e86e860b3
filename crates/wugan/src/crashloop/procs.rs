//! The parties as child processes of `wugan crashloop`: started from the `wugan` executable, their
//! output appended to log files in the run's folder, and killed when dropped, so that none of them
//! outlives the run (an error, a panic or Ctrl-C included).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment the caller may have set that would point a child at other parties or another
/// database: removed, so that every child uses only what the run gives it.
const FOREIGN_ENV: &[&str] = &[
    "WUGAN_DATABASE_URL",
    "WUGAN_INSURANCE_URL",
    "WUGAN_BANK_URL",
    "WUGAN_BANK_CODE",
    "WUGAN_BANK_KEY_ID",
    "WUGAN_BANK_SECRET",
    "WUGAN_DATA_DIR",
    "WUGAN_DATA_KEY",
    "WUGAN_CONFIG",
];

/// How to start one party: the executable, its arguments and environment, and its log file.
#[derive(Clone)]
pub struct Launch {
    pub name: &'static str,
    pub exe: PathBuf,
    pub args: Vec<String>,
    /// Secrets go here rather than in `args`, which every user of the machine can read.
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

/// A running child. Dropping it sends SIGKILL and reaps it.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Launch {
    pub fn spawn(&self) -> anyhow::Result<Proc> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.exe);
        command.args(&self.args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        for name in FOREIGN_ENV {
            command.env_remove(name);
        }
        // Plain log lines: they go to a file, and the run looks for ERROR in the hub's.
        command.env("NO_COLOR", "1").envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().with_context(|| format!("cannot start {} ({})", self.name, self.exe.display()))?;
        Ok(Proc { name: self.name, child, log: self.log.clone() })
    }
}

impl Proc {
    /// SIGKILL (`Child::kill` on unix), then wait until the process is gone, so that its port and
    /// its database are free for the next start.
    pub fn kill(mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        // An error only says the process had already exited; reaping it is all that is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process's resident memory in MiB (`VmRSS` in `/proc`), on Linux; `None` elsewhere or
    /// once it has exited.
    pub fn rss_mib(&self) -> Option<f64> {
        vm_rss_mib(&std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?)
    }

    /// Waits until `base/health` answers 2xx; fails if the process exits first or `timeout` passes.
    pub async fn wait_healthy(&mut self, http: &reqwest::Client, base: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("{} exited ({status}) before it was healthy:\n{}", self.name, log_tail(&self.log, 30));
            }
            let probe = http.get(format!("{base}/health")).timeout(Duration::from_secs(1)).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("{} was not healthy after {timeout:?}:\n{}", self.name, log_tail(&self.log, 30))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// A loopback port nobody listens on now. Another program could take it before the child binds
/// it; the child then fails to start and says so.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `lines` lines of a log file, for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Lines of a log file that contain `needle` (e.g. the hub's ERROR lines), at most `limit`.
pub fn log_grep(path: &Path, needle: &str, limit: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| l.contains(needle)).take(limit).map(str::to_string).collect()
}

/// The run's folder under the system's temp folder, removed when dropped unless kept.
pub struct WorkDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl WorkDir {
    pub fn create(seed: u64, keep: bool) -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("wugan-crashloop-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `VmRSS` of a `/proc/<pid>/status` text, in MiB to one decimal (a measurement, not money).
fn vm_rss_mib(status: &str) -> Option<f64> {
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
#[test]
fn resident_memory_is_read_from_the_status_text() {
    assert_eq!(vm_rss_mib("Name:\twugan\nVmPeak:\t  999999 kB\nVmRSS:\t   86016 kB\nThreads:\t7\n"), Some(84.0));
    assert_eq!(vm_rss_mib("Name:\twugan\n"), None, "an exited process has no VmRSS line");
}
