//! What the benches share: reading knobs from the environment, the process's CPU time, the
//! machine's load, medians. Included by each bench with `mod common;` (a directory, so Cargo
//! does not take it for a bench of its own).
#![allow(dead_code)]

use std::time::Duration;

/// A numeric knob from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` has them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// User + system CPU time of this process (all its threads), from `getrusage`: the client's
/// cost; the servers are other processes.
pub fn cpu_self() -> Duration {
    // SAFETY: getrusage writes into the struct we pass; zeroed is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// User-space instructions retired by every thread of this process between [`start`] and
/// [`Instructions::read`], from the CPU's counters (`perf_event_open`). Unlike CPU time, an
/// instruction count hardly moves with the machine's load, so a few hundred instructions per
/// statement show on a shared 2-core machine. `None` where the kernel refuses counters
/// (`perf_event_paranoid`, a VM without a PMU).
///
/// [`start`]: Instructions::start
pub struct Instructions {
    fds: Vec<i32>,
}

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER0` (64 bytes), the part needed here.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

impl Instructions {
    /// Opens a counter on each thread of the process (the runtime's threads exist by now)
    /// and starts them.
    pub fn start() -> Option<Instructions> {
        const PERF_TYPE_HARDWARE: u32 = 0;
        const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1;
        const EXCLUDE_KERNEL: u64 = 1 << 5;
        const EXCLUDE_HV: u64 = 1 << 6;
        let mut fds = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let tid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let attr = PerfEventAttr {
                kind: PERF_TYPE_HARDWARE,
                size: std::mem::size_of::<PerfEventAttr>() as u32,
                config: PERF_COUNT_HW_INSTRUCTIONS,
                flags: EXCLUDE_KERNEL | EXCLUDE_HV,
                ..PerfEventAttr::default()
            };
            // SAFETY: the attribute struct is a valid, fully initialised `perf_event_attr`
            // prefix whose size field says how much the kernel may read.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    &attr as *const PerfEventAttr,
                    tid,
                    -1i32,
                    -1i32,
                    0u64,
                )
            };
            if fd < 0 {
                for fd in fds {
                    // SAFETY: a descriptor this function opened.
                    unsafe { libc::close(fd) };
                }
                return None;
            }
            fds.push(fd as i32);
        }
        Some(Instructions { fds })
    }

    /// Instructions counted so far, all threads together.
    pub fn read(&self) -> u64 {
        self.fds
            .iter()
            .map(|&fd| {
                let mut v = 0u64;
                // SAFETY: reading 8 bytes into a u64 from a counter descriptor.
                let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
                if n == 8 { v } else { 0 }
            })
            .sum()
    }
}

impl Drop for Instructions {
    fn drop(&mut self) {
        for &fd in &self.fds {
            // SAFETY: descriptors this value owns.
            unsafe { libc::close(fd) };
        }
    }
}
