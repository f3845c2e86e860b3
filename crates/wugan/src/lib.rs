//! The `wugan` binary's library half: starting the parties, the scripted HIS, the demo, the simulator
//! and the benchmark.

pub mod adjudicate;
pub mod backup;
pub mod banks;
pub mod bench;
pub mod crashloop;
pub mod data_dir;
pub mod demo;
pub mod faults;
pub mod his;
pub mod hospital;
pub mod invoice;
pub mod keys;
pub mod lock;
pub mod logging;
pub mod progress;
pub mod reconcile;
pub mod rng;
pub mod server;
pub mod simulate;
pub mod staff;
pub mod system;
