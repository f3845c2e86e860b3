//! Rows every request reads and almost none writes, kept in memory: a hospital's profile (mode,
//! envelope region, name) and its platform settings, read several times per visit (registration,
//! each partner call's envelope, the invoice's payer). Profiling `wugan bench` showed them as 15 of
//! a visit's ~100 statements, each a hand-off to a pooled SQLite connection's thread and back.
//!
//! Only what the database holds is cached, and only rows that exist (an unknown code or key is
//! read from the database every time, so a caller cannot grow the maps). Every write of a cached
//! column in this process calls [`HotRows::forget`] once it is committed, so this process sees its
//! own changes at once. Another process may write them too (a second hub on the same PostgreSQL
//! database, `wugan key revoke` on the data folder), so a kept row is trusted for [`KEEP_FOR`]
//! only: a key revoked elsewhere stops opening this hub's API within that second.
//!
//! A read that raced a write cannot put the old row back: a reader notes the generation before
//! reading the database and keeps its row only if no write was forgotten since. A write bumps the
//! generation after its commit, so a read that began before the commit is not kept, and one that
//! began after it read the new row.

use super::modes::HospitalProfile;
use super::platforms::PlatformRow;
use super::ApiKeyRow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a kept row is used before it is read again: long enough that a busy hub reads each
/// row about once a second instead of hundreds of times, short enough that a change made by
/// another process is seen within a second.
pub const KEEP_FOR: Duration = Duration::from_secs(1);

/// A row, and when it was read.
type Kept<T> = RwLock<HashMap<String, (Instant, T)>>;

#[derive(Default)]
pub struct HotRows {
    generation: AtomicU64,
    profiles: Kept<HospitalProfile>,
    platforms: Kept<PlatformRow>,
    /// API keys by their hash.
    keys: Kept<ApiKeyRow>,
}

/// Where a read stands: the generation it began in.
#[derive(Clone, Copy)]
pub struct ReadTicket(u64);

impl HotRows {
    /// Call before reading the database, to keep the row afterwards.
    pub fn ticket(&self) -> ReadTicket {
        ReadTicket(self.generation.load(Ordering::Acquire))
    }

    pub fn profile(&self, code: &str) -> Option<HospitalProfile> {
        fresh(&self.profiles, code)
    }

    pub fn keep_profile(&self, ticket: ReadTicket, profile: &HospitalProfile) {
        keep(&self.generation, &self.profiles, ticket, &profile.code, profile);
    }

    pub fn platform(&self, code: &str) -> Option<PlatformRow> {
        fresh(&self.platforms, code)
    }

    pub fn keep_platform(&self, ticket: ReadTicket, code: &str, platform: &PlatformRow) {
        keep(&self.generation, &self.platforms, ticket, code, platform);
    }

    pub fn key(&self, key_hash: &str) -> Option<ApiKeyRow> {
        fresh(&self.keys, key_hash)
    }

    pub fn keep_key(&self, ticket: ReadTicket, key_hash: &str, key: &ApiKeyRow) {
        keep(&self.generation, &self.keys, ticket, key_hash, key);
    }

    /// Forgets every kept row: a cached column was written (call after the commit).
    pub fn forget(&self) {
        // The generation is bumped while every map is locked, so that no reader's check-and-keep
        // straddles the bump.
        let mut profiles = self.profiles.write().unwrap_or_else(|e| e.into_inner());
        let mut platforms = self.platforms.write().unwrap_or_else(|e| e.into_inner());
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        profiles.clear();
        platforms.clear();
        keys.clear();
    }
}

fn fresh<T: Clone>(map: &Kept<T>, code: &str) -> Option<T> {
    let rows = map.read().unwrap_or_else(|e| e.into_inner());
    let (read_at, row) = rows.get(code)?;
    (read_at.elapsed() < KEEP_FOR).then(|| row.clone())
}

fn keep<T: Clone>(generation: &AtomicU64, map: &Kept<T>, ticket: ReadTicket, code: &str, row: &T) {
    let mut rows = map.write().unwrap_or_else(|e| e.into_inner());
    // Checked under the map's write lock: `forget` bumps the generation holding it.
    if generation.load(Ordering::Acquire) == ticket.0 {
        rows.insert(code.to_string(), (Instant::now(), row.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wugan_domain::settlement::cash_only::SetlType;

    fn profile(name: &str) -> HospitalProfile {
        HospitalProfile { code: "H1".into(), name: name.into(), mdtrtarea_admvs: None, setl_type: SetlType::All }
    }

    #[test]
    fn a_row_read_before_a_write_is_not_kept_after_it() {
        let rows = HotRows::default();
        let before = rows.ticket();
        rows.forget(); // a write committed while the read was on its way
        rows.keep_profile(before, &profile("old name"));
        assert_eq!(rows.profile("H1"), None);
        let after = rows.ticket();
        rows.keep_profile(after, &profile("new name"));
        assert_eq!(rows.profile("H1").map(|p| p.name), Some("new name".to_string()));
        rows.forget();
        assert_eq!(rows.profile("H1"), None, "a write forgets what was kept");
    }
}
