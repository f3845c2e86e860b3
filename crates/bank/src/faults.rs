//! Fault injection at the bank's HTTP edge: the shared, seeded knobs of `wugan-faults`.

pub use wugan_faults::{BeforeHandling, FaultInjector, Faults};
