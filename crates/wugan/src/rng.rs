//! The seeded generator the demo, the simulator and the fault plans draw from (the partners'
//! xorshift64), so that a seed always tells the same story. Not for anything secret.

pub struct XorShift(wugan_faults::XorShift64);

impl XorShift {
    /// Any seed works: it is spread over the state first, so that nearby seeds tell different stories.
    pub fn new(seed: u64) -> XorShift {
        XorShift(wugan_faults::XorShift64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
}
