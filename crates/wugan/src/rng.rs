//! A small deterministic generator (xorshift64), so that a seed always tells the same story in
//! the demo, the simulator and the fault plans. Not for anything secret.

pub struct XorShift(u64);

impl XorShift {
    /// Any seed works; zero is mapped to a non-zero state.
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
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
}
