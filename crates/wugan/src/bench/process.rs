//! This process's CPU time and context switches (getrusage), read before and after a measurement:
//! per visit they say where a visit's cost goes on a noisy machine (the rate alone does not), and
//! how much of it is the kernel handing work between threads.

/// Totals since the process started (all its threads: hub, partners, load generator).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ProcessWork {
    pub user_us: u64,
    pub system_us: u64,
    /// Voluntary (a thread waited) and involuntary (a thread was preempted) context switches.
    pub switches: u64,
}

impl ProcessWork {
    /// Now; `None` where getrusage is not there.
    pub fn read() -> Option<ProcessWork> {
        #[cfg(unix)]
        {
            // SAFETY: getrusage writes one plain struct that we own; it reads nothing of ours.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
                return None;
            }
            let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
            Some(ProcessWork {
                user_us: us(usage.ru_utime),
                system_us: us(usage.ru_stime),
                switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
            })
        }
        #[cfg(not(unix))]
        None
    }

    pub fn since(self, before: ProcessWork) -> ProcessWork {
        ProcessWork {
            user_us: self.user_us.saturating_sub(before.user_us),
            system_us: self.system_us.saturating_sub(before.system_us),
            switches: self.switches.saturating_sub(before.switches),
        }
    }

    /// The share of the CPU time spent in the kernel (0 to 1).
    pub fn kernel_share(&self) -> f64 {
        self.system_us as f64 / (self.user_us + self.system_us).max(1) as f64
    }
}
