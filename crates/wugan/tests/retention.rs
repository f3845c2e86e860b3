//! What the hub keeps only for a while: stored answers to idempotent requests (24 hours unless
//! `--idempotency-retention-hours` says otherwise), msgid
//! blocks of past days, and the drop-in endpoint's notes of a visit (30 days). Pruned by the
//! recovery worker; the tables do not grow without bound.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wugan_domain::Fen;
use wugan_hub::clock::Clock;
use wugan_hub::pii::DataKey;
use wugan_hub::store::{IdempotencyBegin, Store};
use wugan_hub::{App, HubConfig};

struct HandClock(Mutex<time::OffsetDateTime>);

impl Clock for HandClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A hub on a fresh SQLite file, its time in the test's hand.
async fn hub_on_a_hand_clock() -> (App, Arc<HandClock>, std::path::PathBuf) {
    let clock = Arc::new(HandClock(Mutex::new(time::OffsetDateTime::now_utc())));
    let db = std::env::temp_dir().join(format!("wugan-retention-{}.db", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap().with_clock(clock.clone());
    store.migrate().await.unwrap();
    let config = HubConfig {
        admdvs: "440300".into(),
        insurance_url: "http://127.0.0.1:1".into(),
        insurance_credentials: vec![],
        banks: vec![],
        default_credit_limit: Fen::yuan(5_000),
        partner_timeout: Duration::from_secs(1),
        data_key: DataKey::generate().unwrap(),
    };
    (App::new(store, config), clock, db)
}

#[tokio::test]
async fn stored_answers_are_kept_a_day_and_msgid_blocks_of_past_days_are_dropped() {
    let (app, clock, db) = hub_on_a_hand_clock().await;
    let store = &app.store;
    assert!(matches!(store.begin_idempotency("hospital:H1", "k1", "h").await.unwrap(), IdempotencyBegin::New));
    store.finish_idempotency("hospital:H1", "k1", "h", 200, "{}").await.unwrap();
    let china = wugan_hub::clock::in_china(clock.now_utc());
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        china.year(),
        china.month() as u8,
        china.day(),
        china.hour(),
        china.minute(),
        china.second()
    );
    assert!(store.reserve_msgid_block("H44030000001", &stamp).await.unwrap().is_some());
    store.note_national_visit("H44030000001", "M-NI-1", "MZ-NI-1").await.unwrap();

    *clock.0.lock().unwrap() += time::Duration::hours(23);
    assert_eq!(app.prune().await.unwrap(), (0, 0), "inside the retention: the answer stays, and yesterday's block");
    assert!(matches!(store.begin_idempotency("hospital:H1", "k1", "h").await.unwrap(), IdempotencyBegin::Replay { .. }));

    *clock.0.lock().unwrap() += time::Duration::days(3);
    let (answers, blocks) = app.prune().await.unwrap();
    assert_eq!((answers, blocks), (1, 1), "the answer and the old block are gone");
    assert!(matches!(store.begin_idempotency("hospital:H1", "k1", "h").await.unwrap(), IdempotencyBegin::New), "a new request");
    assert!(store.national_visit("M-NI-1").await.unwrap().is_some(), "a drop-in visit's note stays a month");
    *clock.0.lock().unwrap() += time::Duration::days(31);
    app.prune().await.unwrap();
    assert!(store.national_visit("M-NI-1").await.unwrap().is_none(), "and is gone after it");
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn a_hub_told_to_keep_answers_two_hours_replays_inside_them_and_forgets_after() {
    let (app, clock, db) = hub_on_a_hand_clock().await;
    let app = app.with_idempotency_retention(Duration::from_secs(2 * 3600));
    let store = &app.store;
    assert!(matches!(store.begin_idempotency("hospital:H1", "k2", "h").await.unwrap(), IdempotencyBegin::New));
    store.finish_idempotency("hospital:H1", "k2", "h", 200, "{}").await.unwrap();
    *clock.0.lock().unwrap() += time::Duration::minutes(110);
    assert_eq!(app.prune().await.unwrap().0, 0, "inside the two hours");
    assert!(matches!(store.begin_idempotency("hospital:H1", "k2", "h").await.unwrap(), IdempotencyBegin::Replay { .. }));
    *clock.0.lock().unwrap() += time::Duration::minutes(20);
    assert_eq!(app.prune().await.unwrap().0, 1, "past them");
    assert!(matches!(store.begin_idempotency("hospital:H1", "k2", "h").await.unwrap(), IdempotencyBegin::New));
    // Never shorter than a minute, whatever the setting: a retry within its own timeout replays.
    assert_eq!(app.with_idempotency_retention(Duration::ZERO).idempotency_retention, Duration::from_secs(60));
    let _ = std::fs::remove_file(&db);
}
