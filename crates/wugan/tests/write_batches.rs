//! Writes given to the store at once, some of which fail: each failed one is undone alone and
//! every other stands. On SQLite that is the writer's batch (a savepoint a job); with
//! WUGAN_TEST_DATABASE_URL, on PostgreSQL, the way `WUGAN_PG_WRITES` says: `pooled` (a
//! transaction a job) or `batched` (SQLite's way, on one connection). CI runs it both ways.

use std::sync::Arc;
use wugan_hub::store::db::{query, Conn};
use wugan_hub::store::{Store, StoreError, StoreResult};

mod common;

async fn add_hospital(c: &mut Conn, code: &str, then_fail: bool) -> StoreResult<()> {
    let sql = "INSERT INTO hospitals (code, name, created_at) VALUES ($1, $1, '2026-01-01T00:00:00Z')";
    query(sql).bind(code).execute(&mut *c).await?;
    if then_fail {
        return Err(StoreError::Conflict(format!("{code} changed its mind")));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_writes_at_once_every_third_failing_leave_exactly_the_others() {
    let (opts, dir) = common::fresh_options("write-batches").await;
    let url = match opts.database_url.clone() {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&dir.0).expect("a folder");
            format!("sqlite://{}?mode=rwc", dir.0.join("hub.db").display())
        }
    };
    let store = Arc::new(Store::connect(&url).await.expect("a store"));
    store.migrate().await.expect("migrated");
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..64 {
        let store = store.clone();
        writes.spawn(async move {
            let (code, fail) = (format!("H{i:02}"), i % 3 == 0);
            (i, store.write(move |c| Box::pin(async move { add_hospital(c, &code, fail).await })).await)
        });
    }
    while let Some(done) = writes.join_next().await {
        let (i, result) = done.expect("the write's task");
        assert_eq!(result.is_ok(), i % 3 != 0, "write {i}: {result:?}");
    }
    for i in 0..64 {
        assert_eq!(store.hospital_exists(&format!("H{i:02}")).await.unwrap(), i % 3 != 0, "hospital {i}");
    }
    // A write with the same key as one that stands fails on its own, and the writer goes on.
    let again = store.write(|c| Box::pin(async move { add_hospital(c, "H01", false).await })).await;
    assert!(again.is_err(), "a second H01: {again:?}");
    store.write(|c| Box::pin(async move { add_hospital(c, "H-AFTER", false).await })).await.expect("the writes go on");
    assert!(store.hospital_exists("H-AFTER").await.unwrap());
}
