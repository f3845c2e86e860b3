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

/// Turns off SQLite's memory statistics for this process, before any connection is opened (it
/// cannot be changed after SQLite initializes). With them on (SQLite's default), every allocation
/// SQLite makes takes one process-wide mutex to count it, on the writer's thread and every reader's;
/// the hub reads none of those counts. Returns whether SQLite took the setting.
pub fn sqlite_without_memory_statistics() -> bool {
    // SAFETY: sqlite3_config is only unsafe while SQLite is in use on another thread or already
    // initialized; it is called first thing in main, and it answers SQLITE_MISUSE (not undefined
    // behaviour) if SQLite was initialized anyway.
    unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) == libsqlite3_sys::SQLITE_OK }
}
