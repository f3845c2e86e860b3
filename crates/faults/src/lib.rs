//! Fault injection for the sandbox partners (the bank, the insurance center), so that the hub can
//! be tested against unreliable ones. Off by default. Each partner applies it at its HTTP edge and
//! says there what a refusal, an error and a timeout after commit look like on its wire.
//!
//! Every decision comes from a seeded xorshift generator, so a run with the same seed and the same
//! request order sees the same faults. No I/O here: the partner sleeps, hangs and answers.

use std::sync::Mutex;

/// The knobs. Rates are probabilities in `[0, 1]`; values outside are clamped, NaN is zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    pub seed: u64,
    /// Added before every request is handled.
    pub latency_ms: u64,
    /// An HTTP 500 before anything is done. The caller cannot tell it from a failure after
    /// commit, so it must resolve the outcome (the bank's status query, the insurance 5203).
    pub error_rate: f64,
    /// The request is committed, then the partner waits `timeout_hang_ms` and answers HTTP 504:
    /// the caller sees an unknown outcome although the work was done.
    pub timeout_after_commit_rate: f64,
    /// How long a timed-out request hangs before its 504; set it above the client's timeout to
    /// make the client time out itself.
    pub timeout_hang_ms: u64,
    /// Every request is handled twice, as if the network delivered it twice; the second delivery
    /// must replay the first reply (request id, msgid), and its reply is the one sent.
    pub duplicate_delivery: bool,
    /// An HTTP 503 before anything is done: the partner refuses the request, a retry is safe.
    pub refuse_rate: f64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            seed: 1,
            latency_ms: 0,
            error_rate: 0.0,
            timeout_after_commit_rate: 0.0,
            timeout_hang_ms: 0,
            duplicate_delivery: false,
            refuse_rate: 0.0,
        }
    }
}

impl Faults {
    /// Whether any knob is on; lets the HTTP layer skip the injector entirely.
    pub fn any(&self) -> bool {
        self.latency_ms > 0
            || rate(self.error_rate) > 0.0
            || rate(self.timeout_after_commit_rate) > 0.0
            || self.duplicate_delivery
            || rate(self.refuse_rate) > 0.0
    }
}

fn rate(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else {
        r.clamp(0.0, 1.0)
    }
}

/// xorshift64 (Marsaglia, 2003): tiny, fast, good enough to pick faults; not for secrets.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> XorShift64 {
        // Zero is xorshift's one fixed point; any other seed walks the full 2^64 − 1 cycle.
        XorShift64(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the partner does to one request before handling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeforeHandling {
    Proceed,
    Refuse,
    Error,
}

/// The knobs plus the generator, shared by all requests.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Faults,
    rng: Mutex<XorShift64>,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> FaultInjector {
        let rng = Mutex::new(XorShift64::new(faults.seed));
        FaultInjector { faults, rng }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn is_active(&self) -> bool {
        self.faults.any()
    }

    pub fn before_handling(&self) -> BeforeHandling {
        if self.roll(self.faults.refuse_rate) {
            BeforeHandling::Refuse
        } else if self.roll(self.faults.error_rate) {
            BeforeHandling::Error
        } else {
            BeforeHandling::Proceed
        }
    }

    pub fn timeout_after_commit(&self) -> bool {
        self.roll(self.faults.timeout_after_commit_rate)
    }

    /// True with probability `rate`. A zero rate draws nothing, so turning one knob on does not
    /// shift the faults another knob produces for the same seed.
    fn roll(&self, r: f64) -> bool {
        let r = rate(r);
        if r == 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.next_unit() < r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_roughly_uniform() {
        let (mut a, mut b) = (XorShift64::new(42), XorShift64::new(42));
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_unit()).collect();
        assert!(draws.iter().all(|&d| d == b.next_unit() && (0.0..1.0).contains(&d)));
        let below_tenth = draws.iter().filter(|&&d| d < 0.1).count();
        assert!((800..1_200).contains(&below_tenth), "{below_tenth} of 10,000 below 0.1");
        assert_ne!(XorShift64::new(0).next_u64(), 0);
    }

    #[test]
    fn rates_at_the_edges() {
        let always = FaultInjector::new(Faults { refuse_rate: 1.0, ..Faults::default() });
        assert!((0..100).all(|_| always.before_handling() == BeforeHandling::Refuse));
        let never = FaultInjector::new(Faults { error_rate: f64::NAN, refuse_rate: -3.0, ..Faults::default() });
        assert!((0..100).all(|_| never.before_handling() == BeforeHandling::Proceed));
        assert!(!Faults::default().any());
    }
}
