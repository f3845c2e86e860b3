//! Insurance msgids (报文ID) that no two hub processes, and no restart, ever issue twice, in the
//! national format: fixmedins_code (12) + yyyyMMddHHmmss (14, China time) + 4 digits. The 4 digits
//! are a block (2) reserved in the database per hospital code and second, and a sequence within
//! the block (2): a process reserves a fresh block of 100 for every second it issues msgids in,
//! so one database write covers up to 100 msgids.

use crate::clock::{in_china, Clock};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// msgids in one block.
const BLOCK_SIZE: i64 = 100;

#[derive(Default)]
pub struct MsgIds {
    /// Per 12-character code: the second and block in use, and the next sequence in it.
    current: Mutex<HashMap<String, (String, i64, i64)>>,
}

/// The 12-character institution part: alphanumerics of the code, padded with zeros.
pub fn code12(fixmedins_code: &str) -> String {
    let mut code: String = fixmedins_code.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
    while code.len() < 12 {
        code.push('0');
    }
    code
}

impl MsgIds {
    /// A msgid never issued before by any process on this database.
    pub async fn next(&self, store: &Store, clock: &dyn Clock, fixmedins_code: &str) -> Result<String, StoreError> {
        let code = code12(fixmedins_code);
        loop {
            let t = in_china(clock.now_utc());
            let stamp = format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second());
            let mut current = self.current.lock().await;
            if let Some((s, block, seq)) = current.get_mut(&code) {
                if *s == stamp && *seq < BLOCK_SIZE {
                    let n = *block * BLOCK_SIZE + *seq;
                    *seq += 1;
                    return Ok(format!("{code}{stamp}{n:04}"));
                }
            }
            match store.reserve_msgid_block(&code, &stamp).await? {
                Some(block) => {
                    current.insert(code.clone(), (stamp.clone(), block, 0));
                }
                None => {
                    // 10,000 msgids in this second for this hospital: the format allows no more.
                    drop(current);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A clock stopped in one second: the worst case for a per-second sequence.
    struct Stopped;
    impl Clock for Stopped {
        fn now_utc(&self) -> time::OffsetDateTime {
            time::macros::datetime!(2026-11-30 02:00:00 UTC)
        }
    }

    #[tokio::test]
    async fn two_processes_and_a_restart_in_the_same_second_never_share_a_msgid() {
        let path = std::env::temp_dir().join(format!("wugan-msgid-{}.db", uuid::Uuid::now_v7().simple()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let first = Store::connect(&url).await.unwrap().with_clock(Arc::new(Stopped));
        first.migrate().await.unwrap();
        let second = Store::connect(&url).await.unwrap().with_clock(Arc::new(Stopped));
        let mut seen = std::collections::HashSet::new();
        // Two processes side by side, then the first "restarts" (fresh MsgIds) in the same second.
        for (store, ids) in [(&first, MsgIds::default()), (&second, MsgIds::default()), (&first, MsgIds::default())] {
            for _ in 0..250 {
                let id = ids.next(store, &Stopped, "H44030000001").await.unwrap();
                assert_eq!(id.len(), 30, "{id}");
                assert!(id.starts_with("H4403000000120261130100000"), "China time, national format: {id}");
                assert!(seen.insert(id.clone()), "msgid {id} issued twice");
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn institution_codes_fill_twelve_characters() {
        assert_eq!(super::code12("H440300001"), "H44030000100");
        assert_eq!(super::code12("WUGAN-HUB-0000-X"), "WUGANHUB0000");
    }
}
