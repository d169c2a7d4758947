//! A real systemd as PID 1 of a container (systemd-nspawn(1)) whose network namespace is
//! a lab host's: the tests drive systemd-networkd and vrrpd's shipped unit under the
//! service manager they run under in production, on the host's own `/usr` (read-only).
//!
//! What it takes, found on Debian 12 (systemd 252):
//! - root, `systemd-nspawn` (package systemd-container), `nsenter` (util-linux);
//! - `--network-namespace-path=` joins the lab namespace the test created, so nothing the
//!   container does reaches the host's network. systemd-nspawn keeps `CAP_NET_ADMIN` only
//!   for `--private-network`, not for a joined namespace: without `--capability=CAP_NET_ADMIN`
//!   systemd-networkd is skipped (`ConditionCapability=CAP_NET_ADMIN`);
//! - `--register=no --keep-unit`: no systemd-machined and no transient scope on the host,
//!   so no host unit is touched (and the host needs no systemd at all). With `--keep-unit`
//!   systemd-nspawn puts the container in sub-cgroups of its own cgroup (`payload/`,
//!   `supervisor/`); two containers started from one cgroup would share them, so every
//!   container gets a cgroup of its own first (below the caller's, in the `name=systemd`
//!   and the unified hierarchy), removed again when it stops.
//!
//! The container is a guard: dropping it (also while a test panics) halts the container,
//! kills what is left in its cgroup and removes the cgroup. Its root directory lives in
//! the lab's directory, which the lab removes.

#![allow(dead_code)] // not every test uses every helper

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vrrpd::lab::{Host, wait_until};

/// How long a boot may take until `systemctl is-system-running` answers (a debug vrrpd
/// binary and a loaded 2-core machine: a few seconds; bounded well above).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a clean halt may take before the container is killed. vrrpd's make-before-break
/// stop waits at most 10 s for a new master (docs/systemd.md).
const HALT_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the container tests cannot run here, if they cannot: not root, or no
/// systemd-nspawn. The runner step (tests/netns-nspawn.sh) checks the same and reports
/// the suite as skipped; a test that gets here anyway fails with this message.
pub fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces, systemd-nspawn)".into());
    }
    match Command::new("systemd-nspawn")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("`systemd-nspawn --version` exited with {status}")),
        Err(error) => Some(format!(
            "systemd-nspawn cannot be run ({error}); install the systemd-container package"
        )),
    }
}

/// Panics with the reason when the container tests cannot run (see [`missing_prerequisite`]).
pub fn require_nspawn() {
    if let Some(reason) = missing_prerequisite() {
        panic!(
            "this test boots systemd in a container and {reason}; tests/netns-nspawn.sh \
             reports the suite as SKIPPED where that is missing"
        );
    }
}

/// The version of the host's systemd (`systemd-nspawn --version`: "systemd 252 (252.39-1~deb12u2)").
pub fn systemd_version() -> Option<u32> {
    let output = Command::new("systemd-nspawn")
        .arg("--version")
        .output()
        .ok()?;
    parse_systemd_version(&String::from_utf8_lossy(&output.stdout))
}

/// "systemd 252 (252.39-1~deb12u2)\n+PAM …" → 252.
pub fn parse_systemd_version(text: &str) -> Option<u32> {
    text.lines()
        .next()?
        .strip_prefix("systemd ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A minimal root directory for a container that boots the host's systemd: `/usr` comes
/// from the host (bound read-only at boot), `/bin`, `/sbin`, `/lib` and `/lib64` are
/// the merged-/usr symlinks, and `/etc` holds only what a test writes plus an
/// os-release and an empty machine-id (systemd generates a transient one at boot;
/// systemd-sysusers writes `/etc/passwd` and `/etc/group` from `/usr/lib/sysusers.d`).
/// Nothing is enabled but what the test enables.
pub struct RootFs {
    dir: PathBuf,
    /// `--bind-ro=` arguments: host file → path in the container.
    binds: Vec<(PathBuf, String)>,
}

impl RootFs {
    pub fn new(dir: &Path) -> io::Result<RootFs> {
        for sub in ["etc/systemd/system", "usr", "var", "run", "tmp", "opt"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        for link in ["bin", "sbin", "lib", "lib64"] {
            std::os::unix::fs::symlink(format!("usr/{link}"), dir.join(link))?;
        }
        // systemd-nspawn refuses a directory without os-release before it binds /usr.
        let os_release = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|path| fs::read(path).ok())
            .ok_or_else(|| io::Error::other("the host has no os-release"))?;
        fs::write(dir.join("etc/os-release"), os_release)?;
        fs::write(dir.join("etc/machine-id"), "")?;
        Ok(RootFs {
            dir: dir.to_path_buf(),
            binds: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host path of `path` inside the container ("/etc/vrrpd/vrrpd.json").
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }

    /// Writes `contents` to `path` (inside the container) with `mode`.
    pub fn write(&self, path: &str, contents: &str, mode: u32) -> io::Result<()> {
        let target = self.path(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, contents)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
    }

    /// `systemctl enable` by hand: `unit` (under /usr/lib/systemd/system, or written to
    /// /etc/systemd/system) wanted by `target`.
    pub fn enable(&self, unit: &str, target: &str) -> io::Result<()> {
        let wants = self.path(&format!("/etc/systemd/system/{target}.wants"));
        fs::create_dir_all(&wants)?;
        let in_etc = self.path(&format!("/etc/systemd/system/{unit}"));
        let source = if in_etc.exists() {
            format!("/etc/systemd/system/{unit}")
        } else {
            format!("/usr/lib/systemd/system/{unit}")
        };
        std::os::unix::fs::symlink(source, wants.join(unit))
    }

    /// Binds `host_file` read-only at `path` in the container (the mount point is created
    /// as an empty file in the root directory).
    pub fn bind_file(&mut self, host_file: &Path, path: &str) -> io::Result<()> {
        self.write(path, "", 0o644)?;
        self.binds.push((host_file.to_path_buf(), path.to_string()));
        Ok(())
    }
}

/// Where this process sits in the cgroup hierarchies that systemd-nspawn uses, and the
/// directories of a new cgroup below it.
fn own_cgroups(name: &str) -> io::Result<Vec<PathBuf>> {
    let table = fs::read_to_string("/proc/self/cgroup")?;
    let path_of = |prefix: &str| {
        table.lines().find_map(|line| {
            let (_, rest) = line.split_once(':')?;
            rest.strip_prefix(prefix).map(|p| p.trim_start_matches('/'))
        })
    };
    let mut directories = Vec::new();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // Unified hierarchy only (cgroup v2).
        let own =
            path_of(":").ok_or_else(|| io::Error::other("no 0:: line in /proc/self/cgroup"))?;
        directories.push(Path::new("/sys/fs/cgroup").join(own).join(name));
    } else {
        // Hybrid (or legacy): systemd's own name=systemd hierarchy, plus the unified one
        // mounted at /sys/fs/cgroup/unified when present.
        let own = path_of("name=systemd:")
            .ok_or_else(|| io::Error::other("no name=systemd hierarchy in /proc/self/cgroup"))?;
        directories.push(Path::new("/sys/fs/cgroup/systemd").join(own).join(name));
        if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
            let unified = path_of(":").unwrap_or("");
            directories.push(Path::new("/sys/fs/cgroup/unified").join(unified).join(name));
        }
    }
    Ok(directories)
}

/// The pids in a cgroup directory and every cgroup below it.
fn cgroup_pids(directory: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_to_string(directory.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if let Ok(entries) = fs::read_dir(directory) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(cgroup_pids(&entry.path()));
            }
        }
    }
    pids
}

/// Removes a cgroup and every cgroup below it (deepest first). Fails while one still has
/// processes.
fn remove_cgroup_tree(directory: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(directory) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(directory) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A booted container: systemd runs as PID 1 of its own PID namespace, in the network
/// namespace of a lab host.
pub struct Container {
    child: Option<Child>,
    /// The container's PID 1 (systemd), as the host sees it.
    leader: u32,
    machine: String,
    cgroups: Vec<PathBuf>,
    console_log: PathBuf,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("machine", &self.machine)
            .field("leader", &self.leader)
            .finish()
    }
}

impl Container {
    /// Boots `root` with the host's /usr in `host`'s network namespace and waits (bounded)
    /// until systemd has finished starting up. A boot that ends "degraded" is an error
    /// that lists the failed units.
    pub fn boot(root: &RootFs, host: &Host) -> Result<Container, String> {
        require_nspawn();
        // The machine name must be a valid host name; the lab's namespace name is unique
        // among the tests running now.
        let machine: String = host.netns().chars().take(60).collect();
        let console_log = root.dir().with_extension("console.log");
        let cgroups = own_cgroups(&format!("vrrpd-lab-{machine}"))
            .map_err(|e| format!("finding this process's cgroup: {e}"))?;
        for directory in &cgroups {
            fs::create_dir_all(directory)
                .map_err(|e| format!("creating {}: {e}", directory.display()))?;
        }
        let mut container = Container {
            child: None,
            leader: 0,
            machine: machine.clone(),
            cgroups,
            console_log: console_log.clone(),
        };

        let mut nspawn_args = vec![
            "--boot".to_string(),
            format!("--directory={}", root.dir().display()),
            format!("--machine={machine}"),
            "--bind-ro=/usr".to_string(),
            format!("--network-namespace-path=/run/netns/{}", host.netns()),
            "--capability=CAP_NET_ADMIN".to_string(),
            "--register=no".to_string(),
            "--keep-unit".to_string(),
            "--console=pipe".to_string(),
        ];
        for (host_file, path) in &root.binds {
            nspawn_args.push(format!("--bind-ro={}:{path}", host_file.display()));
        }
        // The shell moves itself into the container's own cgroups, then becomes
        // systemd-nspawn (exec keeps the pid and the cgroup).
        let mut script = String::new();
        for directory in &container.cgroups {
            script.push_str(&format!(
                "echo $$ > '{}/cgroup.procs' || exit 1; ",
                directory.display()
            ));
        }
        script.push_str("exec systemd-nspawn \"$@\"");
        let log = fs::File::create(&console_log)
            .map_err(|e| format!("creating {}: {e}", console_log.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .arg("sh")
            .args(&nspawn_args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting systemd-nspawn: {e}"))?;
        let nspawn_pid = child.id();
        container.child = Some(child);

        let started = Instant::now();
        // systemd-nspawn forks the container's PID 1 as its own child.
        let mut leader = None;
        wait_until(BOOT_TIMEOUT, Duration::from_millis(20), || {
            leader = child_of(nspawn_pid).filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd")
                    && Path::new(&format!("/proc/{pid}/root/run/systemd/private")).exists()
            });
            leader.is_some() || container.has_exited()
        });
        let Some(leader) = leader else {
            return Err(format!(
                "the container's systemd did not come up within {BOOT_TIMEOUT:?}; console:\n{}",
                container.console()
            ));
        };
        container.leader = leader;
        let remaining = BOOT_TIMEOUT.saturating_sub(started.elapsed());
        let state = container
            .exec_timeout(&["systemctl", "is-system-running", "--wait"], remaining)
            .map_err(|e| format!("waiting for the boot: {e}"))?;
        let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
        if state != "running" {
            let failed = container
                .exec(&["systemctl", "--failed", "--no-legend", "--plain"])
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            return Err(format!(
                "the container booted {state:?}, not \"running\"; failed units:\n{failed}"
            ));
        }
        eprintln!(
            "container {machine}: systemd up after {:.2} s (PID 1 is {leader} on the host)",
            started.elapsed().as_secs_f64()
        );
        Ok(container)
    }

    /// The container's PID 1 as the host sees it.
    pub fn leader(&self) -> u32 {
        self.leader
    }

    /// systemd-nspawn's console output (the container's boot messages).
    pub fn console(&self) -> String {
        fs::read_to_string(&self.console_log).unwrap_or_default()
    }

    /// Runs `args` inside the container (all its namespaces) with a 60 s bound.
    pub fn exec(&self, args: &[&str]) -> Result<Output, String> {
        self.exec_timeout(args, Duration::from_secs(60))
    }

    /// Runs `args` inside the container and requires success; returns stdout.
    pub fn exec_ok(&self, args: &[&str]) -> Result<String, String> {
        let output = self.exec(args)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{}` in the container failed ({}): {}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Runs `args` inside the container through nsenter(1), killed after `timeout`
    /// (coreutils' timeout(1)), with a clean environment.
    pub fn exec_timeout(&self, args: &[&str], timeout: Duration) -> Result<Output, String> {
        let leader = self.leader.to_string();
        let seconds = format!("{:.1}", timeout.as_secs_f64().max(1.0));
        Command::new("timeout")
            .args([
                "--kill-after=5",
                &seconds,
                "nsenter",
                "--target",
                &leader,
                "--all",
                "--",
            ])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_PAGER", "cat")
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running nsenter: {e}"))
    }

    /// `journalctl -u UNIT` inside the container, with microsecond timestamps.
    pub fn journal(&self, unit: &str) -> String {
        self.exec(&[
            "journalctl",
            "--no-pager",
            "-o",
            "short-precise",
            "-u",
            unit,
        ])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(journalctl failed: {e})"))
    }

    fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Halts the container (SIGTERM to systemd-nspawn: it asks the container's systemd to
    /// power off), kills what is left after [`HALT_TIMEOUT`], and removes its cgroups.
    pub fn halt(mut self) -> Result<(), String> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + HALT_TIMEOUT;
        let mut clean = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                clean = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !clean {
            // SIGKILL of the container's PID 1 ends its PID namespace; then systemd-nspawn.
            if self.leader > 0 {
                let _ = kill(Pid::from_raw(self.leader as i32), Signal::SIGKILL);
            }
            let _ = kill(pid, Signal::SIGKILL);
            let _ = child.wait();
        }
        // Anything still in the container's cgroups (there should be nothing).
        let mut leftovers = Vec::new();
        let gone = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            leftovers = self.cgroups.iter().flat_map(|d| cgroup_pids(d)).collect();
            for pid in &leftovers {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            leftovers.is_empty()
        });
        let mut problems = Vec::new();
        if !clean {
            problems.push(format!(
                "the container did not halt within {HALT_TIMEOUT:?} and was killed"
            ));
        }
        if gone.is_none() {
            problems.push(format!("processes left in its cgroups: {leftovers:?}"));
        }
        for directory in &self.cgroups {
            if let Err(error) = remove_cgroup_tree(directory) {
                problems.push(format!("removing {}: {error}", directory.display()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "container {}: {}",
                self.machine,
                problems.join("; ")
            ))
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(problem) = self.stop() {
            eprintln!("{problem}");
        }
    }
}

/// The first child of `pid` (`/proc/PID/task/PID/children`).
fn child_of(pid: u32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
