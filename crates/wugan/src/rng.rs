//! The seeded generator the demo, the simulator and the fault plans draw from (the partners'
//! xorshift64), so that a seed always tells the same story. Not for anything secret.

pub struct XorShift(wugan_faults::XorShift64);

impl XorShift {
    /// Any seed works: it is spread over the state first, so that nearby seeds tell different stories.
    pub fn new(seed: u64) -> XorShift {
        XorShift(wugan_faults::XorShift64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
    }

    /// The generator of one named stream of a seed (a visit's, a background actor's): streams of
    /// different names are unrelated, and a name always gets the same stream.
    pub fn for_stream(seed: u64, name: &str) -> XorShift {
        // FNV-1a: stable across runs, platforms and Rust versions, unlike std's hasher.
        let hash = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3));
        XorShift::new(seed ^ hash)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
}
