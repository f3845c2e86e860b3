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

/// Turns off transparent huge pages for this process (`prctl(PR_SET_THP_DISABLE)`), early in main
/// (the kernel reads the flag at each page fault, so pages faulted in before it are the runtime's
/// few). The hub's heap grows and shrinks by small requests and rows; with huge pages the kernel
/// backs each fresh 2 MiB of it by zeroing a whole huge page, and on a virtual machine that page is
/// faulted in from the host as well: `wugan bench core` spent 13–17% of its CPU in the kernel's
/// `clear_page` under mimalloc's `MADV_HUGEPAGE` arenas, and ~0 without them (about a tenth less CPU
/// a visit and ~100 MiB less RSS, alternating runs, session 28). mimalloc is also built with
/// `no_thp` (it no longer asks for huge pages); this call covers kernels set to THP `always`.
/// Returns whether the kernel took it.
pub fn without_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

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

/// A database URL with a password given as a flag shows in the process list: say so.
pub fn warn_of_secrets_in_flags() {
    let args: Vec<String> = std::env::args().collect();
    let flagged = args.iter().enumerate().filter_map(|(i, a)| match a.strip_prefix("--database-url") {
        Some("") => args.get(i + 1).map(String::as_str),
        Some(rest) => rest.strip_prefix('='),
        None => None,
    });
    for url in flagged {
        let userinfo = url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(u, _)| u);
        if userinfo.is_some_and(|u| u.contains(':')) {
            eprintln!(
                "wugan: warning: --database-url holds a password, visible to every local user in the process list; use WUGAN_DATABASE_URL"
            );
        }
    }
}
