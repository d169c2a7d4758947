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
//! VRRPD_STATE, VRRPD_OLD_STATE and VRRPD_PRIORITY in its environment.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::NotifyConfig;
use crate::driver::checks::{RunFailure, run_bounded};

/// One program to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRun {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// For logs: "(VI_1) notify_master".
    pub label: String,
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
        });
    }
    runs
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
    let output = std::process::Stdio::inherit();
    match run_bounded(&run.argv, None, &run.env, run.timeout, output).await {
        Ok(status) if status.success() => debug!("{} finished", run.label),
        Ok(status) => warn!("{} {:?} failed: {status}", run.label, run.argv),
        Err(RunFailure::TimedOut) => warn!(
            "{} {:?} still running after {:?}: killed",
            run.label, run.argv, run.timeout
        ),
        Err(RunFailure::Spawn(error)) => warn!("{} cannot run {:?}: {error}", run.label, run.argv),
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
            timeout_s: 5,
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
