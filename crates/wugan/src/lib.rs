//! The `wugan` binary's library half: starting the parties, the scripted HIS, and the demo.

pub mod adjudicate;
pub mod crashloop;
pub mod demo;
pub mod faults;
pub mod his;
pub mod rng;
pub mod simulate;
pub mod system;
