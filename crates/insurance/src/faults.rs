//! Fault injection at the insurance center's HTTP edge: the shared, seeded knobs of `wugan-faults`.

pub use wugan_faults::{BeforeHandling, FaultInjector, Faults};
