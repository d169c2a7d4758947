//! The realtime scheduling class for the protocol loop (`vrrpd run --realtime-priority`,
//! keepalived's `vrrp_rt_priority`) and locked memory (`--lock-memory`, keepalived's
//! `vrrp_no_swap`).
//!
//! Why: at 10 ms adverts a backup takes over after 36 ms of silence. On a machine whose
//! every core is busy (stress-ng in benches/load.py, a build, a backup job), the normal
//! scheduler can leave the loop waiting longer than that, and the backup takes over
//! falsely. SCHED_RR runs the loop ahead of every normal task when an advert is due; it
//! costs the rest of the machine nothing while the loop sleeps, which is almost always.
//! The kernel's RT throttling (sched_rt_runtime_us, 95 % by default) still bounds a loop
//! that would never sleep.
//!
//! Reset on fork: threads and children (exec checks, notify hooks, the schema check) do
//! not inherit the class, so a runaway check cannot starve the machine.

use tracing::{info, warn};

/// Move the calling thread (the daemon's only protocol thread, before the runtime starts)
/// to SCHED_RR at `priority`. A refusal is not fatal: the daemon says so and runs at
/// normal priority, which is what it would do without the flag.
pub fn enter_realtime(priority: u8) {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: sched_setscheduler reads `param` only; pid 0 is the calling thread.
    let result =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if result == 0 {
        info!(
            "running at realtime priority {priority} (SCHED_RR; checks and hooks run at normal \
             priority)"
        );
    } else {
        let error = std::io::Error::last_os_error();
        // A kernel with CONFIG_RT_GROUP_SCHED refuses realtime to a task in a cgroup without
        // a realtime budget (cpu.rt_runtime_us), which is every systemd service's.
        let group_scheduling = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
            .exists()
            || std::path::Path::new("/sys/fs/cgroup/cpu,cpuacct/cpu.rt_runtime_us").exists();
        let hint = if group_scheduling {
            "this kernel has realtime group scheduling (CONFIG_RT_GROUP_SCHED), which gives a \
             service's cgroup no realtime budget"
        } else {
            "grant CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority (LimitRTPRIO=)"
        };
        warn!(
            "cannot run at realtime priority {priority}: {error} ({hint}); running at normal \
             priority, so adverts may be late on a loaded machine"
        );
    }
}

/// Lock the daemon's memory into RAM (`vrrpd run --lock-memory`, keepalived's
/// `vrrp_no_swap`): every page mapped now and later, so that neither swap nor the page
/// cache's reclaim can evict the code and data an advert or a takeover needs. Under
/// memory pressure an evicted page costs a disk read (milliseconds, more on a busy disk)
/// at the moment it is needed, which at 10 ms adverts is a false takeover. The cost is
/// the whole executable and its libraries resident (docs/RELIABILITY.md measures it).
/// Not inherited: a child's memory (checks, hooks, the schema check) is its own. A
/// refusal (RLIMIT_MEMLOCK, the unit's LimitMEMLOCK=) is not fatal.
pub fn lock_memory() {
    // SAFETY: mlockall takes flags only.
    let result = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if result == 0 {
        info!("memory locked (mlockall): the daemon's pages stay in RAM");
    } else {
        let error = std::io::Error::last_os_error();
        warn!(
            "cannot lock memory: {error} (raise RLIMIT_MEMLOCK, the unit's LimitMEMLOCK=, or \
             grant CAP_IPC_LOCK); running unlocked, so pages may be reclaimed under memory \
             pressure"
        );
    }
}

/// True when the calling process has memory locked (VmLck in /proc/self/status).
pub fn memory_locked() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmLck:"))
                .and_then(crate::driver::sys::kib)
        })
        .is_some_and(|kilobytes| kilobytes > 0)
}

/// The calling thread's scheduling class and priority, to give a thread it starts the
/// same (see [`apply_scheduling`]).
#[derive(Debug, Clone, Copy)]
pub struct Scheduling {
    policy: i32,
    priority: i32,
}

/// The calling thread's [`Scheduling`].
pub fn current_scheduling() -> Scheduling {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_getparam writes one sched_param, which `param` is.
    let priority = if unsafe { libc::sched_getparam(0, &mut param) } == 0 {
        param.sched_priority
    } else {
        0
    };
    Scheduling {
        policy: current_policy(),
        priority,
    }
}

/// Give the calling thread `scheduling` when it is a realtime class (nothing to do
/// otherwise), reset on fork as [`enter_realtime`] does. The daemon's reactor thread
/// runs at the protocol thread's class: the protocol thread waits for it when a takeover
/// adds addresses over netlink.
pub fn apply_scheduling(scheduling: Scheduling) {
    if scheduling.policy != libc::SCHED_RR && scheduling.policy != libc::SCHED_FIFO {
        return;
    }
    let param = libc::sched_param {
        sched_priority: scheduling.priority,
    };
    // SAFETY: sched_setscheduler reads `param` only; pid 0 is the calling thread.
    let result = unsafe {
        libc::sched_setscheduler(0, scheduling.policy | libc::SCHED_RESET_ON_FORK, &param)
    };
    if result != 0 {
        warn!(
            "cannot give the reactor thread realtime priority {}: {}",
            scheduling.priority,
            std::io::Error::last_os_error()
        );
    }
}

/// The calling thread's scheduling policy, without the reset-on-fork flag.
pub fn current_policy() -> i32 {
    // SAFETY: no arguments besides the calling thread's pid 0.
    unsafe { libc::sched_getscheduler(0) & !libc::SCHED_RESET_ON_FORK }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root (CI), the thread moves to SCHED_RR and a thread it starts does not inherit it;
    /// without the privilege the call is refused and nothing changes. A thread of its own, so
    /// that the test runner's threads keep their class.
    #[test]
    fn realtime_is_entered_when_allowed_and_not_inherited() {
        let root = nix::unistd::geteuid().is_root();
        let (policy, child_policy) = std::thread::spawn(|| {
            enter_realtime(5);
            let child = std::thread::spawn(current_policy).join().unwrap();
            (current_policy(), child)
        })
        .join()
        .unwrap();
        if root {
            assert_eq!(policy, libc::SCHED_RR);
        } else {
            assert_eq!(policy, libc::SCHED_OTHER);
        }
        assert_eq!(child_policy, libc::SCHED_OTHER, "reset on fork");
    }

    /// A thread given the scheduling of a realtime thread runs at its class too (as root;
    /// a normal thread's scheduling is left alone either way).
    #[test]
    fn a_thread_can_take_the_scheduling_of_another() {
        let root = nix::unistd::geteuid().is_root();
        let (copied, plain) = std::thread::spawn(|| {
            enter_realtime(7);
            let scheduling = current_scheduling();
            let copied = std::thread::spawn(move || {
                apply_scheduling(scheduling);
                current_scheduling()
            })
            .join()
            .unwrap();
            let plain = std::thread::spawn(|| {
                apply_scheduling(current_scheduling());
                current_policy()
            })
            .join()
            .unwrap();
            (copied, plain)
        })
        .join()
        .unwrap();
        if root {
            assert_eq!((copied.policy, copied.priority), (libc::SCHED_RR, 7));
        } else {
            assert_eq!(copied.policy, libc::SCHED_OTHER);
        }
        assert_eq!(plain, libc::SCHED_OTHER);
    }
}
