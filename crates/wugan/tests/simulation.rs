//! The seeded randomized workload against the partners' own books (TigerBeetle's workload and
//! auditor idea): visits under partner faults and hub crashes, then an audit that must find no
//! mismatch, no double charge and nothing lost. A few seeds here; `wugan simulate` runs long ones.

use wugan::simulate::{run, SimulateOptions};

async fn check(seed: u64, crash_every: Option<usize>) {
    let r = run(SimulateOptions { visits: 60, faults: 0.25, seed, crash_every, concurrency: 8, progress: false })
        .await
        .expect("simulation runs");
    assert_eq!((r.mismatches, r.double_charges, r.lost), (0, 0, 0), "seed {seed}: {:#?}", r.details);
    assert!(r.ledger_balanced, "seed {seed}");
    assert!(r.faults_injected > 0, "seed {seed}: faults were injected");
    assert!(r.settled + r.unpaid_bills > 0, "seed {seed}: visits were settled");
    // The hospital retries what a crash cut short, with the same keys: every visit ends settled.
    assert_eq!(r.not_settled, 0, "seed {seed}: {:?}", r.not_settled_reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_workloads_under_partner_faults_keep_the_books_equal() {
    for seed in 1..=3 {
        check(seed, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_workloads_with_hub_crashes_keep_the_books_equal() {
    for seed in 11..=12 {
        check(seed, Some(25)).await;
    }
}
