//! `wugan serve` as an operator runs it: one process per data folder, and a stop (SIGTERM, as
//! systemd and `docker stop` send) that answers every request already being handled.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wugan::his::HisClient;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const BANK_SECRET: &str = "operable-test-secret";

struct Folder(PathBuf);

impl Folder {
    fn new(label: &str) -> Folder {
        Folder(std::env::temp_dir().join(format!("wugan-{label}-{}", uuid::Uuid::new_v4().simple())))
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `wugan` child process, killed if the test ends without stopping it.
struct Party(Child);

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Party {
    fn start(args: &[&str]) -> Party {
        let child = Command::new(env!("CARGO_BIN_EXE_wugan"))
            .args(args)
            .env("WUGAN_BANK_SECRET", BANK_SECRET)
            .env("WUGAN_RATE_PER_KEY", "0")
            .env("WUGAN_RATE_PER_ADDRESS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wugan starts");
        Party(child)
    }

    /// The first URL printed on the line starting with `prefix`.
    fn url_after(&mut self, prefix: &str) -> String {
        let stdout = self.0.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.find_map(|l| l.ok().filter(|l| l.starts_with(prefix))).unwrap_or_else(|| panic!("no {prefix:?} line"));
        // The rest of stdout is drained in the background, so that the child never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL");
        url.trim_end_matches("/bank/v1").to_string()
    }

    fn terminate(&self) {
        // SAFETY: kill sends a signal to our own child; it reads no memory.
        let status = unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(status, 0, "SIGTERM sent");
    }

    /// Waits for the process to end within `limit`; its exit status.
    fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn operator_key(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("credentials.json")).expect("credentials.json");
    let credentials: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    credentials["operator_api_key"].as_str().expect("operator key").to_string()
}

#[test]
fn a_second_serve_on_a_folder_in_use_refuses_naming_the_folder_and_the_first_ones_pid() {
    let folder = Folder::new("lock");
    let data = folder.0.display().to_string();
    let mut first = Party::start(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &data]);
    let _hub = first.url_after("wugan hub");

    let second = Command::new(env!("CARGO_BIN_EXE_wugan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data])
        .output()
        .expect("wugan runs");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second hub started on a folder in use: {said}");
    assert!(said.contains("in use") && said.contains(&data), "{said}");
    assert!(said.contains(&format!("pid {}", first.0.id())), "{said}");

    // The first one stops cleanly on SIGTERM, and the folder is free again.
    first.terminate();
    assert!(first.wait_for_exit(Duration::from_secs(30)).success());
    let mut again = Party::start(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &data]);
    let _hub = again.url_after("wugan hub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_every_request_already_sent_then_exits_cleanly() {
    let folder = Folder::new("drain");
    let (bank_dir, hub_dir) = (folder.0.join("bank"), folder.0.join("hub"));
    // A slow bank: every sign-up is still in progress at the hub when the stop comes.
    let mut bank =
        Party::start(&["bank", "serve", "--listen", "127.0.0.1:0", "--latency-ms", "700", "--data-dir", &bank_dir.display().to_string()]);
    let bank_url = bank.url_after("bank BANK01 on");
    let mut hub =
        Party::start(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &hub_dir.display().to_string(), "--bank-url", &bank_url]);
    let hub_url = hub.url_after("wugan hub");
    let operator = std::sync::Arc::new(HisClient::new(&hub_url, &operator_key(&hub_dir)));

    let burst: Vec<_> = (0..24)
        .map(|i| {
            let operator = operator.clone();
            tokio::spawn(async move {
                let payment = serde_json::json!({"method": "debit_card", "bank_code": "BANK01", "card_no": format!("62220202{i:011}")});
                operator.sign_up("01", EMPLOYEE_TOKEN, true, payment).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    hub.terminate();

    // One person, so one sign-up is made (at the slow bank) and the others find it made.
    let mut statuses = Vec::new();
    for request in burst {
        let reply = request.await.expect("task").expect("an answer, not a broken connection");
        assert!(reply.status < 500, "{reply:?}");
        statuses.push(reply.status);
    }
    assert_eq!(statuses.len(), 24);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(signalled.elapsed() >= Duration::from_millis(200), "the requests were still in progress at the signal");
    let status = tokio::task::spawn_blocking(move || hub.wait_for_exit(Duration::from_secs(30))).await.expect("waited");
    assert!(status.success(), "{status:?}");
    // Stopped: no longer accepting.
    assert!(reqwest::get(format!("{hub_url}/health")).await.is_err());
    bank.terminate();
    assert!(bank.wait_for_exit(Duration::from_secs(30)).success());
}

/// A machine that starts processes at `ulimit -n` 1,024 (a common default) would cap the hub at
/// 480 connections, and a load of 600 clients ran out of descriptors (6 visits/s, 3,939 errors in
/// `wugan bench e2e --concurrency 600`): the process raises its soft limit to its hard limit.
#[cfg(target_os = "linux")]
#[test]
fn serve_raises_its_descriptor_limit_from_a_low_default() {
    use std::os::unix::process::CommandExt;
    let mut hard = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) }, 0);
    let folder = Folder::new("descriptors");
    let data = folder.0.display().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wugan"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data]).env("WUGAN_BANK_SECRET", BANK_SECRET);
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max.min(1024);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut hub = Party(command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("wugan starts"));
    let _url = hub.url_after("wugan hub");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", hub.0.id())).expect("/proc/<pid>/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files");
    let soft: u64 = line.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("a number");
    let expected = hard.rlim_max.clamp(1024, 65_536);
    assert_eq!(soft, expected, "{line}");
}
