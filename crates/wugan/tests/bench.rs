//! `wugan bench`, small, through the binary: it prints one JSON object, every visit settles in both
//! measurements, the end check holds, and the database's disk work was counted. On SQLite, or on
//! the PostgreSQL server WUGAN_TEST_DATABASE_URL names. No timing is asserted.

use serde_json::Value;

#[test]
fn a_small_bench_settles_every_visit_and_its_books_hold() {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wugan"));
    command.args(["bench", "--visits", "40", "--concurrency", "8", "--json"]);
    if let Some(server) = std::env::var("WUGAN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        command.args(["--database-url", &server]);
    }
    let out = command.output().expect("wugan runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wugan bench failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).expect("exactly one JSON object on stdout");

    for key in [
        "visits",
        "visits_per_s",
        "p50_ms",
        "p99_ms",
        "errors",
        "core_visits_per_s",
        "fsync_per_s",
        "writes_per_visit",
        "flushes_per_visit",
        "ledger_balanced",
        "partner_calls_per_visit",
        "rss_mib_start",
        "rss_mib_end",
        "cpu_ms_per_visit",
        "kernel_cpu_share",
        "context_switches_per_visit",
    ] {
        assert!(report.get(key).is_some_and(|v| !v.is_null()), "{key} missing in {report}");
    }
    assert_eq!((report["visits"].as_u64(), report["core_visits"].as_u64()), (Some(40), Some(40)));
    assert_eq!((report["errors"].as_u64(), report["core_errors"].as_u64()), (Some(0), Some(0)), "{}", report["error_reasons"]);
    assert_eq!(report["ledger_balanced"], true);
    assert_eq!((report["settlements_acknowledged"].as_u64(), report["settlements_missing"].as_u64()), (Some(80), Some(0)));
    assert!(report["fsync_per_s"].as_f64() > Some(0.0));
    // Every visit writes (visits, fees, settlements, the ledger): a count of zero would mean the
    // database's writes went uncounted.
    assert!(report["writes_per_visit"].as_f64() > Some(1.0), "{report}");
    // A visit is at least registration (1101, 2201), fees (2204) and the click (2206, 2207).
    assert!(report["partner_calls_per_visit"].as_f64() >= Some(5.0), "{report}");
    // A visit costs CPU, some of it in the kernel (sockets, files): zero would mean it went unread.
    assert!(report["cpu_ms_per_visit"].as_f64() > Some(0.0), "{report}");
    assert!((0.0..=1.0).contains(&report["kernel_cpu_share"].as_f64().unwrap_or(-1.0)), "{report}");
    if report["database"] == "sqlite" {
        // The hub's statements were traced, and its writes shared commits.
        assert!(report["statements_per_visit"].as_f64() > report["write_jobs_per_visit"].as_f64(), "{report}");
        assert!(report["jobs_per_commit"].as_f64() >= Some(1.0), "{report}");
    }
}
