//! Rate limits per API key and per client address: a generic cell rate algorithm (a token bucket
//! kept as one instant per client: when its bucket will be full again), in a bounded map. Pure:
//! the caller passes the time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests a client may send: `per_second` sustained, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    /// `per_second` sustained with bursts of twice that; none (no limit) for 0.
    pub fn per_second(per_second: u32) -> Option<Rate> {
        (per_second > 0).then(|| Rate { per_second, burst: per_second.saturating_mul(2) })
    }
}

/// Clients remembered at most; beyond, the ones whose bucket is full again are forgotten first.
pub const MAX_CLIENTS: usize = 10_000;

pub struct Limiter<K> {
    /// Time one request costs.
    interval: Duration,
    /// How far ahead of now a client's bucket may be drained: `burst - 1` requests.
    tolerance: Duration,
    max_clients: usize,
    /// Per client, when its bucket is full again (the "theoretical arrival time").
    full_at: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Limiter<K> {
        Limiter::bounded(rate, MAX_CLIENTS)
    }

    fn bounded(rate: Rate, max_clients: usize) -> Limiter<K> {
        let interval = Duration::from_secs(1) / rate.per_second.max(1);
        Limiter { interval, tolerance: interval * rate.burst.max(1).saturating_sub(1), max_clients, full_at: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `client`'s bucket at `now`; when it is empty, how long until it is not.
    pub fn check(&self, client: &K, now: Instant) -> Result<(), Duration> {
        let mut full_at = self.full_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if full_at.len() >= self.max_clients && !full_at.contains_key(client) {
            forget_some(&mut full_at, now);
        }
        let drained_until = full_at.get(client).copied().unwrap_or(now).max(now);
        let ahead = drained_until.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        full_at.insert(client.clone(), drained_until + self.interval);
        Ok(())
    }

    pub fn clients(&self) -> usize {
        self.full_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

/// Makes room: forgets the clients whose bucket is full again (as good as unknown), else the one
/// closest to full.
fn forget_some<K: Hash + Eq + Clone>(full_at: &mut HashMap<K, Instant>, now: Instant) {
    full_at.retain(|_, at| *at > now);
    if let Some(closest) = full_at.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone()) {
        full_at.remove(&closest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` requests `gap` apart from `start`; returns which were let through.
    fn send(limiter: &Limiter<&'static str>, client: &'static str, start: Instant, gap: Duration, n: u32) -> Vec<bool> {
        (0..n).map(|i| limiter.check(&client, start + gap * i).is_ok()).collect()
    }

    #[test]
    fn a_burst_passes_then_the_sustained_rate() {
        let limiter = Limiter::new(Rate { per_second: 10, burst: 3 });
        let t0 = Instant::now();
        assert_eq!(send(&limiter, "his", t0, Duration::ZERO, 4), [true, true, true, false]);
        // The fourth waits for one request's time (100 ms) to pass.
        assert_eq!(limiter.check(&"his", t0), Err(Duration::from_millis(100)));
        assert_eq!(limiter.check(&"his", t0 + Duration::from_millis(100)), Ok(()));
        // At the sustained rate, every request passes.
        assert!(send(&limiter, "his", t0 + Duration::from_secs(1), Duration::from_millis(100), 50).iter().all(|ok| *ok));
        // Another client has a bucket of its own.
        assert_eq!(send(&limiter, "other", t0, Duration::ZERO, 3), [true, true, true]);
    }

    #[test]
    fn clients_are_remembered_in_a_bounded_map() {
        let limiter = Limiter::bounded(Rate { per_second: 1, burst: 1 }, 3);
        let t0 = Instant::now();
        for client in ["a", "b", "c", "d", "e"] {
            assert_eq!(limiter.check(&client, t0), Ok(()));
            assert!(limiter.clients() <= 3);
        }
        // Once their buckets are full again, the old clients make room for new ones.
        assert_eq!(limiter.check(&"f", t0 + Duration::from_secs(5)), Ok(()));
        assert_eq!(limiter.clients(), 1);
    }

    #[test]
    fn no_limit_is_zero_per_second() {
        assert_eq!(Rate::per_second(0), None);
        assert_eq!(Rate::per_second(50), Some(Rate { per_second: 50, burst: 100 }));
    }
}
