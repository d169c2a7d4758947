//! Notify hooks: programs run on state transitions, like keepalived's `notify_*`.
//!
//! One queue for the whole daemon, drained by one task: hooks run one at a time and in the
//! order the transitions happened (a MASTER hook never races the BACKUP hook before it),
//! each bounded by its timeout (its process group is killed then). The event loop only
//! enqueues, so a slow hook never delays an advertisement.
//!
//! keepalived compatibility: `notify_master`/`backup`/`fault`/`stop` programs get no extra
//! arguments; the generic `notify` program gets `INSTANCE NAME STATE PRIORITY` appended
//! (STATE one of MASTER, BACKUP, FAULT, STOP). Every hook also gets VRRPD_INSTANCE,
//! VRRPD_STATE, VRRPD_OLD_STATE and VRRPD_PRIORITY in its environment, besides PATH and
//! nothing else.
//!
//! Privileges: a hook runs through [`crate::driver::child`], so by default without any of
//! vrrpd's capabilities and with `no_new_privs`, as vrrpd's uid or (when vrrpd is root)
//! as the configured `user`. `keep_privileges` (off by default, warned about at every
//! load) lets it have what vrrpd has, for keepalived scripts that run `ip` themselves.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::NotifyConfig;
use crate::driver::child::{ChildPrivileges, RunFailure, UnknownUser, resolve_user, run_bounded};

/// One program to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRun {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// For logs: "(VI_1) notify_master".
    pub label: String,
    /// The config's `user`: switched to when vrrpd is root.
    pub user: Option<String>,
    /// The config's `keep_privileges`.
    pub keep_privileges: bool,
}

/// The programs for one transition of `instance` to `state` (keepalived's state names:
/// MASTER, BACKUP, FAULT, STOP), in the order they run: the state's own, then the generic.
pub fn hooks_for(
    config: &NotifyConfig,
    instance: &str,
    state: &str,
    old_state: &str,
    priority: u8,
) -> Vec<HookRun> {
    let specific = match state {
        "MASTER" => config.master.as_ref(),
        "BACKUP" => config.backup.as_ref(),
        "FAULT" => config.fault.as_ref(),
        "STOP" => config.stop.as_ref(),
        _ => None,
    };
    let env = vec![
        ("VRRPD_INSTANCE".to_owned(), instance.to_owned()),
        ("VRRPD_STATE".to_owned(), state.to_owned()),
        ("VRRPD_OLD_STATE".to_owned(), old_state.to_owned()),
        ("VRRPD_PRIORITY".to_owned(), priority.to_string()),
    ];
    let timeout = Duration::from_secs(u64::from(config.timeout_s.max(1)));
    let mut runs = Vec::new();
    if let Some(argv) = specific {
        runs.push(HookRun {
            argv: argv.clone(),
            env: env.clone(),
            timeout,
            label: format!("({instance}) notify_{}", state.to_lowercase()),
            user: config.user.clone(),
            keep_privileges: config.keep_privileges,
        });
    }
    if let Some(argv) = &config.generic {
        let mut argv = argv.clone();
        argv.extend([
            "INSTANCE".to_owned(),
            instance.to_owned(),
            state.to_owned(),
            priority.to_string(),
        ]);
        runs.push(HookRun {
            argv,
            env,
            timeout,
            label: format!("({instance}) notify"),
            user: config.user.clone(),
            keep_privileges: config.keep_privileges,
        });
    }
    runs
}

/// The priority-change hook of one instance (`notify.priority_change`), if it has one:
/// INSTANCE NAME STATE NEW_PRIORITY OLD_PRIORITY appended, and the same in the environment.
pub fn priority_hook_for(
    config: &NotifyConfig,
    instance: &str,
    state: &str,
    old_priority: u8,
    new_priority: u8,
) -> Option<HookRun> {
    let mut argv = config.priority_change.clone()?;
    argv.extend([
        "INSTANCE".to_owned(),
        instance.to_owned(),
        state.to_owned(),
        new_priority.to_string(),
        old_priority.to_string(),
    ]);
    Some(HookRun {
        argv,
        env: vec![
            ("VRRPD_INSTANCE".to_owned(), instance.to_owned()),
            ("VRRPD_STATE".to_owned(), state.to_owned()),
            ("VRRPD_PRIORITY".to_owned(), new_priority.to_string()),
            ("VRRPD_OLD_PRIORITY".to_owned(), old_priority.to_string()),
        ],
        timeout: Duration::from_secs(u64::from(config.timeout_s.max(1))),
        label: format!("({instance}) notify_priority_change"),
        user: config.user.clone(),
        keep_privileges: config.keep_privileges,
    })
}

/// The queue's sending end, held by the event loop.
#[derive(Debug)]
pub struct NotifyQueue {
    sender: Option<mpsc::UnboundedSender<HookRun>>,
    worker: Option<JoinHandle<()>>,
}

impl NotifyQueue {
    pub fn start() -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<HookRun>();
        let worker = tokio::spawn(async move {
            while let Some(run) = receiver.recv().await {
                execute(&run).await;
            }
        });
        NotifyQueue {
            sender: Some(sender),
            worker: Some(worker),
        }
    }

    pub fn enqueue(&self, runs: Vec<HookRun>) {
        let Some(sender) = &self.sender else { return };
        for run in runs {
            debug!("{} queued: {:?}", run.label, run.argv);
            if sender.send(run).is_err() {
                warn!("the notify queue is gone; hook not run");
            }
        }
    }

    /// Close the queue and wait (at most `bound`) for the hooks already queued, such as
    /// the STOP hooks of a shutdown.
    pub async fn finish(&mut self, bound: Duration) {
        self.sender = None;
        if let Some(worker) = self.worker.take()
            && tokio::time::timeout(bound, worker).await.is_err()
        {
            warn!("notify hooks still running after {bound:?} at exit; not waiting longer");
        }
    }
}

async fn execute(run: &HookRun) {
    let Some(privileges) = privileges(run).await else {
        return;
    };
    let output = std::process::Stdio::inherit();
    match run_bounded(&run.argv, privileges, &run.env, run.timeout, output).await {
        Ok(status) if status.success() => debug!("{} finished", run.label),
        Ok(status) => warn!("{} {:?} failed: {status}", run.label, run.argv),
        Err(RunFailure::TimedOut) => warn!(
            "{} {:?} still running after {:?}: killed",
            run.label, run.argv, run.timeout
        ),
        Err(RunFailure::Spawn(error)) => warn!("{} cannot run {:?}: {error}", run.label, run.argv),
    }
}

/// What the hook may keep, or `None` (logged) when its user does not exist: a hook meant
/// to run as someone else never runs as vrrpd instead.
async fn privileges(run: &HookRun) -> Option<ChildPrivileges> {
    if run.keep_privileges {
        return Some(ChildPrivileges::KeptFromVrrpd);
    }
    let Some(user) = run.user.clone() else {
        return Some(ChildPrivileges::Dropped { run_as: None });
    };
    // The user database may be remote (NSS): not on the loop's thread.
    let lookup = tokio::task::spawn_blocking({
        let user = user.clone();
        move || resolve_user(&user)
    })
    .await;
    match lookup {
        Ok(Ok(run_as)) => {
            if run_as.is_none() {
                warn!(
                    "{}: not running as root: runs as vrrpd's own user, not {user}",
                    run.label
                );
            }
            Some(ChildPrivileges::Dropped { run_as })
        }
        Ok(Err(UnknownUser)) => {
            warn!(
                "{} {:?} not run: no user named {user:?}",
                run.label, run.argv
            );
            None
        }
        Err(error) => {
            warn!(
                "{} {:?} not run: looking up {user:?}: {error}",
                run.label, run.argv
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NotifyConfig {
        NotifyConfig {
            master: Some(vec!["/etc/keepalived/master.sh".to_owned()]),
            backup: None,
            fault: None,
            stop: None,
            generic: Some(vec!["/etc/keepalived/notify.sh".to_owned(), "x".to_owned()]),
            priority_change: None,
            timeout_s: 5,
            user: None,
            keep_privileges: false,
        }
    }

    #[test]
    fn keepalived_arguments_and_order() {
        let runs = hooks_for(&config(), "VI_1", "MASTER", "BACKUP", 150);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].argv, vec!["/etc/keepalived/master.sh"]);
        assert_eq!(
            runs[1].argv,
            vec![
                "/etc/keepalived/notify.sh",
                "x",
                "INSTANCE",
                "VI_1",
                "MASTER",
                "150"
            ]
        );
        for run in &runs {
            assert!(
                run.env
                    .contains(&("VRRPD_OLD_STATE".to_owned(), "BACKUP".to_owned()))
            );
            assert!(
                run.env
                    .contains(&("VRRPD_STATE".to_owned(), "MASTER".to_owned()))
            );
            assert!(
                run.env
                    .contains(&("VRRPD_PRIORITY".to_owned(), "150".to_owned()))
            );
            assert!(
                run.env
                    .contains(&("VRRPD_INSTANCE".to_owned(), "VI_1".to_owned()))
            );
            assert_eq!(run.timeout, Duration::from_secs(5));
        }
        // No backup program: only the generic one runs.
        let runs = hooks_for(&config(), "VI_1", "BACKUP", "MASTER", 100);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].argv[4], "BACKUP");
    }

    #[test]
    fn the_priority_hook_gets_the_new_and_the_old_priority() {
        assert!(priority_hook_for(&config(), "VI_1", "MASTER", 150, 90).is_none());
        let notify = NotifyConfig {
            priority_change: Some(vec!["/usr/local/bin/prio".to_owned()]),
            timeout_s: 7,
            ..NotifyConfig::default()
        };
        let run = priority_hook_for(&notify, "VI_1", "MASTER", 150, 90).unwrap();
        assert_eq!(
            run.argv,
            [
                "/usr/local/bin/prio",
                "INSTANCE",
                "VI_1",
                "MASTER",
                "90",
                "150"
            ]
        );
        assert!(
            run.env
                .contains(&("VRRPD_PRIORITY".to_owned(), "90".to_owned()))
        );
        assert!(
            run.env
                .contains(&("VRRPD_OLD_PRIORITY".to_owned(), "150".to_owned()))
        );
        assert_eq!(run.timeout, Duration::from_secs(7));
        assert_eq!(run.label, "(VI_1) notify_priority_change");
    }

    fn hook(argv: Vec<String>, user: Option<&str>, keep_privileges: bool) -> HookRun {
        let notify = NotifyConfig {
            master: Some(argv),
            user: user.map(str::to_owned),
            keep_privileges,
            ..NotifyConfig::default()
        };
        let mut runs = hooks_for(&notify, "VI_1", "MASTER", "BACKUP", 150);
        assert_eq!(runs.len(), 1);
        runs.remove(0)
    }

    fn run_hook(run: &HookRun) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(execute(run));
    }

    /// A hook runs through the shared spawn path: no capabilities, no_new_privs, and an
    /// environment of PATH and the four VRRPD_* variables only; with keep_privileges,
    /// vrrpd's own effective capabilities.
    #[test]
    fn hooks_get_no_capabilities_and_only_the_documented_environment() {
        use crate::driver::child::observed::{Dump, Status};
        let dump = Dump::new("hook");
        run_hook(&hook(dump.argv(), None, false));
        dump.status().assert_unprivileged();
        let environment = dump.environment();
        let keys: Vec<&str> = environment.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "PATH",
                "VRRPD_INSTANCE",
                "VRRPD_OLD_STATE",
                "VRRPD_PRIORITY",
                "VRRPD_STATE"
            ]
        );
        assert_eq!(environment["VRRPD_INSTANCE"], "VI_1");
        assert_eq!(environment["VRRPD_STATE"], "MASTER");
        assert_eq!(environment["VRRPD_OLD_STATE"], "BACKUP");
        assert_eq!(environment["VRRPD_PRIORITY"], "150");

        let kept = Dump::new("hook-kept");
        run_hook(&hook(kept.argv(), None, true));
        let parent = Status::own();
        assert_eq!(
            kept.status().capabilities("CapEff"),
            parent.capabilities("CapEff"),
            "{}",
            kept.status().summary()
        );

        // A user that does not exist: the hook is not run at all (not as vrrpd instead).
        let unknown = Dump::new("hook-unknown");
        run_hook(&hook(unknown.argv(), Some("no-such-user-vrrpd"), false));
        assert!(!unknown.ran());

        // `user` switches uid and gid as root; without root the hook runs as vrrpd.
        let as_nobody = Dump::new("hook-nobody");
        run_hook(&hook(as_nobody.argv(), Some("nobody"), false));
        let child = as_nobody.status();
        child.assert_unprivileged();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let expected_uid = if nix::unistd::geteuid().is_root() {
            nobody.uid.as_raw()
        } else {
            parent.id("Uid")
        };
        assert_eq!(child.id("Uid"), expected_uid, "{}", child.summary());
    }

    #[test]
    fn hooks_run_in_order_one_at_a_time() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let log = std::env::temp_dir().join(format!("vrrpd-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        runtime.block_on(async {
            let mut queue = NotifyQueue::start();
            for (index, delay) in [(1, "0.2"), (2, "0"), (3, "0.1")] {
                let script = format!(
                    "echo start {index} >> {0}; sleep {delay}; echo end {index} $VRRPD_STATE >> {0}",
                    log.display()
                );
                queue.enqueue(vec![HookRun {
                    argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), script],
                    env: vec![("VRRPD_STATE".to_owned(), "MASTER".to_owned())],
                    timeout: Duration::from_secs(5),
                    label: format!("hook {index}"),
                    user: None,
                    keep_privileges: false,
                }]);
            }
            queue.finish(Duration::from_secs(10)).await;
        });
        let lines = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert_eq!(
            lines,
            "start 1\nend 1 MASTER\nstart 2\nend 2 MASTER\nstart 3\nend 3 MASTER\n"
        );
    }
}
