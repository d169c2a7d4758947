//! Network-namespace labs (root): used by `vrrpd demo` and the integration tests.
//!
//! A [`Lab`] is a small Ethernet segment: one "switch" namespace holding a Linux bridge,
//! and one namespace per [`Host`], each joined to the bridge by a veth pair whose
//! inside end is called `eth0` (so configs can say `"interface": "eth0"`, as on a
//! real machine). Hosts can run processes ([`Host::spawn`], [`Host::start_vrrpd`],
//! [`Host::start_keepalived`]), be queried ([`Host::has_address`]) and be cut off
//! ([`Host::link_down`], [`Host::power_off`]). A [`Prober`] pings an address from a
//! host and measures outages.
//!
//! Cleanup: the [`Lab`] value is a guard. Dropping it (also while a test panics)
//! kills every process it started or that runs in its namespaces, deletes the
//! namespaces (which destroys the veths and the bridge) and its temporary
//! directory. Live labs are also kept in a process-wide registry that a
//! SIGINT/SIGTERM handler (installed by [`Lab::new`]) cleans before exiting, so
//! Ctrl-C during `vrrpd demo` or `cargo test` leaves nothing behind.
//!
//! Only documentation addresses belong in a lab (192.0.2.0/24, 198.51.100.0/24,
//! 2001:db8::/32): the lab is a closed segment, but configs get copied around.

mod demo;
mod probe;
mod process;

pub use demo::{run_demo, run_demo_with};
pub use probe::{ProbeReport, Prober};
pub use process::LabProcess;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigHandler, Signal, kill};
use nix::unistd::Pid;

/// The interface name every host sees for its link to the lab's bridge.
pub const HOST_INTERFACE: &str = "eth0";

/// Where `ip netns` keeps its namespace handles.
const NETNS_RUN_DIR: &str = "/run/netns";

/// Longest host name: it becomes the switch-side veth name, and the Linux
/// interface name limit is 15 bytes (IFNAMSIZ − 1).
const MAX_HOST_NAME_LEN: usize = 15;

/// Everything that can go wrong while building or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "network labs need root (they create network namespaces, veths and a bridge); \
         run this as root, e.g. with sudo"
    )]
    NotRoot,
    #[error("`{tool}` is needed but could not be run ({source}); install the `{package}` package")]
    MissingTool {
        tool: String,
        package: String,
        source: io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error(
        "invalid host name {0:?}: use 1 to {MAX_HOST_NAME_LEN} characters from [a-z0-9-], not br0 or lo"
    )]
    InvalidHostName(String),
    #[error("host name {0:?} is already used in this lab")]
    DuplicateHost(String),
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("unexpected output from `{command}`: {reason}")]
    UnexpectedOutput { command: String, reason: String },
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
}

impl LabError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Short alias used throughout the lab.
pub type LabResult<T> = Result<T, LabError>;

/// Fails with [`LabError::NotRoot`] unless the effective user is root.
pub fn require_root() -> LabResult<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// Set by the Nix package's check phase (nix/package.nix `env`): tests that
/// need root or network namespaces skip there instead of failing.
pub const SANDBOX_ENV: &str = "VRRPD_TEST_SANDBOX";

/// For a test that needs root: `true` means "skip this test now".
///
/// As root it returns `false`. Not root in the Nix build sandbox
/// ([`SANDBOX_ENV`] = 1) it prints `SKIPPED <test>: <reason>` straight to
/// stderr, past the test harness's capture, so the skip shows in the build log
/// and `tests/source-set-check.sh` counts it as skipped, not passed. Not root
/// anywhere else it panics: CI runs as root, and a silent skip there would
/// hide a broken setup.
pub fn skip_without_root(test: &str, reason: &str) -> bool {
    let in_sandbox = std::env::var_os(SANDBOX_ENV).is_some_and(|v| v == "1");
    match root_test_decision(nix::unistd::geteuid().is_root(), in_sandbox) {
        RootTest::Run => false,
        RootTest::Skip => {
            let line = format!("SKIPPED {test}: {reason} (not root in the build sandbox)\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            true
        }
        RootTest::Fail => panic!(
            "{test} needs root ({reason}); run the tests as root, as CI does, \
             or set {SANDBOX_ENV}=1 to skip it as the Nix build does"
        ),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RootTest {
    Run,
    Skip,
    Fail,
}

fn root_test_decision(is_root: bool, in_sandbox: bool) -> RootTest {
    match (is_root, in_sandbox) {
        (true, _) => RootTest::Run,
        (false, true) => RootTest::Skip,
        (false, false) => RootTest::Fail,
    }
}

/// Fails with [`LabError::MissingTool`] unless `ip` (iproute2) can be run.
pub fn require_iproute2() -> LabResult<()> {
    match Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(LabError::MissingTool {
            tool: "ip".into(),
            package: "iproute2".into(),
            source: io::Error::other(format!("`ip -V` exited with {status}")),
        }),
        Err(source) => Err(LabError::MissingTool {
            tool: "ip".into(),
            package: "iproute2".into(),
            source,
        }),
    }
}

/// Polls `condition` every `poll` until it holds or `timeout` has passed.
/// Returns how long it took, or `None` on timeout. The condition is always
/// evaluated at least once and once more at the deadline.
pub fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut condition: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return None;
        }
        std::thread::sleep(poll.min(timeout - elapsed));
    }
}

// ---------------------------------------------------------------------------
// Registry of live labs, for the signal handler.

/// State shared by a lab, its hosts and its processes.
struct LabShared {
    id: u64,
    /// Prefix of every namespace name of this lab, e.g. `vl-demo-4242-1`.
    prefix: String,
    switch_netns: String,
    dir: PathBuf,
    state: Mutex<LabState>,
}

#[derive(Default)]
struct LabState {
    /// Host namespaces, in creation order.
    host_netns: Vec<String>,
    /// Processes started through this lab and not yet reaped.
    pids: Vec<u32>,
    /// Set once cleanup ran; later calls are no-ops.
    cleaned: bool,
}

impl LabShared {
    fn state(&self) -> MutexGuard<'_, LabState> {
        // A panic while holding the lock leaves the state consistent (plain
        // vectors), so a poisoned lock is still usable: cleanup must not give up.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Kills every process, deletes the namespaces. Idempotent; best effort
    /// (every step is tried even if an earlier one failed).
    fn cleanup(&self) {
        let (pids, namespaces) = {
            let mut state = self.state();
            if state.cleaned {
                return;
            }
            state.cleaned = true;
            let mut namespaces = state.host_netns.clone();
            namespaces.push(self.switch_netns.clone());
            (std::mem::take(&mut state.pids), namespaces)
        };
        for pid in pids {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        for netns in &namespaces {
            // Children of what we started (keepalived forks its VRRP process) and
            // anything else in the namespace would keep it alive.
            for pid in netns_pids(netns) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        for netns in &namespaces {
            if let Err(error) = ip(&["netns", "del", netns]) {
                tracing::warn!(%netns, %error, "could not delete lab namespace");
            }
        }
    }
}

fn registry() -> MutexGuard<'static, BTreeMap<u64, Arc<LabShared>>> {
    static REGISTRY: Mutex<BTreeMap<u64, Arc<LabShared>>> = Mutex::new(BTreeMap::new());
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Write end of the self-pipe the signal handler writes the signal number to.
static SIGNAL_PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_termination_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: one write(2) to the self-pipe.
    let fd = SIGNAL_PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a live local.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Installs (once per process) SIGINT/SIGTERM handlers that clean every live
/// lab, then exit with 128 + the signal number (130 for Ctrl-C). Called by
/// [`Lab::new`]; harmless to call again.
pub fn install_signal_cleanup() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if let Err(error) = try_install_signal_cleanup() {
            tracing::warn!(%error, "labs will not be cleaned on Ctrl-C");
        }
    });
}

fn try_install_signal_cleanup() -> LabResult<()> {
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        nix::unistd::pipe().map_err(|source| LabError::Sys {
            context: "pipe for the signal handler".into(),
            source,
        })?;
    let mut reader = File::from(read_end);
    std::thread::Builder::new()
        .name("lab-signal-cleanup".into())
        .spawn(move || {
            use std::io::Read;
            let mut byte = [0u8; 1];
            if reader.read_exact(&mut byte).is_ok() {
                eprintln!("\nInterrupted: removing the lab's namespaces and processes…");
                cleanup_all_labs();
                std::process::exit(128 + i32::from(byte[0]));
            }
        })
        .map_err(|source| LabError::io("starting the signal-cleanup thread", source))?;
    // The write end lives for the rest of the process: the handler may fire at any time.
    SIGNAL_PIPE_WRITE.store(write_end.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(write_end);
    let action = nix::sys::signal::SigAction::new(
        SigHandler::Handler(on_termination_signal),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs an async-signal-safe write(2).
        unsafe { nix::sys::signal::sigaction(signal, &action) }.map_err(|source| {
            LabError::Sys {
                context: format!("installing the {signal} handler"),
                source,
            }
        })?;
    }
    Ok(())
}

/// Cleans every lab still registered in this process (the signal path).
pub fn cleanup_all_labs() {
    let labs: Vec<Arc<LabShared>> = registry().values().cloned().collect();
    for lab in labs {
        lab.cleanup();
        let _ = std::fs::remove_dir_all(&lab.dir);
    }
}

// ---------------------------------------------------------------------------
// Lab

/// A lab: a bridge in its own namespace plus hosts attached to it. Deletes
/// everything on drop.
pub struct Lab {
    shared: Arc<LabShared>,
    hosts: Vec<Host>,
    keep_dir: bool,
    /// Links added by [`Lab::add_link`]: (host name, host-side interface, switch-side name).
    extra_links: Vec<(String, String, String)>,
}

impl Lab {
    /// Creates the switch namespace and its bridge. `tag` names the lab in
    /// namespace names (`vl-<tag>-<pid>-<n>-<host>`); it is cut to 8 characters.
    /// Fails with a clear error when not root or when `ip` is missing.
    pub fn new(tag: &str) -> LabResult<Lab> {
        require_root()?;
        require_iproute2()?;
        install_signal_cleanup();

        static NEXT_LAB: AtomicU64 = AtomicU64::new(1);
        let serial = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        let prefix = format!("vl-{tag}-{}-{serial}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        // A leftover directory from a crashed earlier process with the same pid is stale.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;

        let shared = Arc::new(LabShared {
            id: serial,
            switch_netns: format!("{prefix}-sw"),
            prefix,
            dir,
            state: Mutex::new(LabState::default()),
        });
        registry().insert(shared.id, Arc::clone(&shared));
        // From here on, dropping `lab` cleans up whatever was created.
        let lab = Lab {
            shared,
            hosts: Vec::new(),
            keep_dir: std::env::var_os("VRRPD_LAB_KEEP").is_some(),
            extra_links: Vec::new(),
        };
        let sw = lab.shared.switch_netns.as_str();
        ip(&["netns", "add", sw])?;
        // Multicast snooping off: VRRP's 224.0.0.18 is link-local and flooded
        // anyway, but the lab should behave like a dumb switch regardless.
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            "name",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", sw, "link", "set", "dev", "br0", "up"])?;
        Ok(lab)
    }

    /// The directory holding configs and process logs (removed on drop unless
    /// `VRRPD_LAB_KEEP` is set or the thread is panicking).
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Namespace names start with this.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Every namespace of this lab (hosts and switch).
    pub fn namespaces(&self) -> Vec<String> {
        let mut all = self.shared.state().host_netns.clone();
        all.push(self.shared.switch_netns.clone());
        all
    }

    /// The hosts added so far.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Adds a host: a namespace with loopback up and `eth0` on the bridge,
    /// carrying `addresses` ("192.0.2.41/24", "2001:db8::41/64", …; IPv6 ones
    /// skip duplicate address detection so they are usable at once). The
    /// kernel adds the IPv6 link-local address itself.
    pub fn add_host(&mut self, name: &str, addresses: &[&str]) -> LabResult<Host> {
        let valid_name = !name.is_empty()
            && name.len() <= MAX_HOST_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name != "br0"
            && name != "lo";
        if !valid_name {
            return Err(LabError::InvalidHostName(name.into()));
        }
        if self.hosts.iter().any(|h| h.name == name) {
            return Err(LabError::DuplicateHost(name.into()));
        }
        let parsed = addresses
            .iter()
            .map(|text| parse_cidr(text).map(|(ip, prefix)| (ip, prefix, (*text).to_string())))
            .collect::<LabResult<Vec<_>>>()?;

        let netns = format!("{}-{name}", self.shared.prefix);
        ip(&["netns", "add", &netns])?;
        self.shared.state().host_netns.push(netns.clone());

        ip(&["-n", &netns, "link", "set", "dev", "lo", "up"])?;
        let host = Host {
            shared: Arc::clone(&self.shared),
            name: name.to_string(),
            netns,
            addresses: parsed
                .into_iter()
                .map(|(ip, _, text)| HostAddress { ip, text })
                .collect(),
        };
        host.plug_in_interface()?;
        self.hosts.push(host.clone());
        Ok(host)
    }

    /// Adds a second (third, …) link to `host`: interface `interface` (e.g. "eth1") on
    /// a segment of its own, the bridge `br-<interface>` in the switch namespace, shared
    /// by every host given the same interface name. For tests that need two networks per
    /// host (a public and an internal one). `addresses` as in [`Lab::add_host`].
    pub fn add_link(&mut self, host: &Host, interface: &str, addresses: &[&str]) -> LabResult<()> {
        let valid = !interface.is_empty()
            && interface.len() <= MAX_HOST_NAME_LEN - 3
            && interface != HOST_INTERFACE
            && interface
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let known = self
            .extra_links
            .iter()
            .any(|(name, link, _)| *name == host.name && link == interface);
        if !valid || known {
            return Err(LabError::InvalidHostName(format!(
                "{}: interface {interface}",
                host.name
            )));
        }
        let parsed = addresses
            .iter()
            .map(|text| parse_cidr(text).map(|(ip, _)| (ip, (*text).to_string())))
            .collect::<LabResult<Vec<_>>>()?;
        let sw = self.shared.switch_netns.clone();
        let bridge = format!("br-{interface}");
        if !self
            .extra_links
            .iter()
            .any(|(_, link, _)| link == interface)
        {
            ip(&[
                "-n",
                &sw,
                "link",
                "add",
                "name",
                &bridge,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ])?;
            ip(&["-n", &sw, "link", "set", "dev", &bridge, "up"])?;
        }
        // Switch-side names only need to be unique within the switch namespace.
        let switch_side = format!("x{}", self.extra_links.len() + 1);
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "name",
            &switch_side,
            "type",
            "veth",
            "peer",
            "name",
            interface,
            "netns",
            &host.netns,
        ])?;
        self.extra_links
            .push((host.name.clone(), interface.to_owned(), switch_side.clone()));
        ip(&[
            "-n",
            &sw,
            "link",
            "set",
            "dev",
            &switch_side,
            "master",
            &bridge,
        ])?;
        ip(&["-n", &sw, "link", "set", "dev", &switch_side, "up"])?;
        for (address, text) in &parsed {
            let mut args = vec![
                "-n",
                host.netns.as_str(),
                "addr",
                "add",
                text.as_str(),
                "dev",
                interface,
            ];
            if address.is_ipv6() {
                args.push("nodad");
            }
            ip(&args)?;
        }
        ip(&["-n", &host.netns, "link", "set", "dev", interface, "up"])
    }

    /// Cable cut (`up` false) or plugged back in (`up` true) on a link added by
    /// [`Lab::add_link`]; `eth0` is [`Host::link_down`] / [`Host::link_up`].
    pub fn set_link(&self, host: &Host, interface: &str, up: bool) -> LabResult<()> {
        if interface == HOST_INTERFACE {
            return if up { host.link_up() } else { host.link_down() };
        }
        let Some((_, _, switch_side)) = self
            .extra_links
            .iter()
            .find(|(name, link, _)| *name == host.name && link == interface)
        else {
            return Err(LabError::InvalidHostName(format!(
                "{}: no link {interface}",
                host.name
            )));
        };
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.shared.switch_netns,
            "link",
            "set",
            "dev",
            switch_side,
            state,
        ])
    }

    /// Whether the switch floods multicast frames to `host`'s `eth0` (bridge port flag
    /// `mcast_flood`; on by default). Off, the host receives no multicast at all, like
    /// behind a switch or cloud network that filters it; broadcast (ARP) still passes.
    pub fn set_multicast_flooding(&self, host: &Host, enabled: bool) -> LabResult<()> {
        run_checked(
            "ip",
            &[
                "netns",
                "exec",
                &self.shared.switch_netns,
                "bridge",
                "link",
                "set",
                "dev",
                &host.name,
                "mcast_flood",
                if enabled { "on" } else { "off" },
            ],
        )
        .map(drop)
    }

    /// Last lines of every process log of this lab, for failure reports.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(&self.shared.dir) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!(
                "--- {} (last {} lines)\n",
                path.display(),
                tail.len()
            ));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!(
                "lab {} is being torn down during a panic; process logs:\n{}",
                self.shared.prefix,
                self.log_tails(40)
            );
        }
        self.shared.cleanup();
        registry().remove(&self.shared.id);
        let has_files = std::fs::read_dir(&self.shared.dir).is_ok_and(|mut d| d.next().is_some());
        if (panicking && has_files) || self.keep_dir {
            eprintln!(
                "lab {}: logs and configs kept in {}",
                self.shared.prefix,
                self.shared.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.shared.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Host

#[derive(Clone, Debug)]
struct HostAddress {
    ip: IpAddr,
    /// As given, with its prefix length (for re-adding after a power cycle).
    text: String,
}

/// A host of a lab (a network namespace with `eth0` on the bridge). Cheap to
/// clone; valid while its [`Lab`] lives.
#[derive(Clone)]
pub struct Host {
    shared: Arc<LabShared>,
    name: String,
    netns: String,
    addresses: Vec<HostAddress>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("netns", &self.netns)
            .finish()
    }
}

impl Host {
    /// The name given to [`Lab::add_host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// `eth0`.
    pub fn interface(&self) -> &str {
        HOST_INTERFACE
    }

    /// The addresses the host was created with.
    pub fn configured_addresses(&self) -> Vec<IpAddr> {
        self.addresses.iter().map(|a| a.ip).collect()
    }

    /// The lab's temporary directory.
    pub fn lab_dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Starts `program args…` inside the namespace (through `ip netns exec`,
    /// which execs, so the returned pid is the program's). Output goes to
    /// `<lab dir>/<host>-<label>.log`.
    pub fn spawn(&self, program: &str, args: &[&str]) -> LabResult<LabProcess> {
        self.spawn_with_env(program, args, &[])
    }

    /// Like [`Host::spawn`] with extra environment variables. `NOTIFY_SOCKET`,
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` are never inherited from the caller
    /// (a test runner started by systemd must not leak its own).
    pub fn spawn_with_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> LabResult<LabProcess> {
        let label = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "process".into());
        let log_path = self.unique_path(&label, "log");
        let log = File::create(&log_path)
            .map_err(|e| LabError::io(format!("creating {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| LabError::io(format!("duplicating {}", log_path.display()), e))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = command
            .spawn()
            .map_err(|e| LabError::io(format!("starting {program} in {}", self.netns), e))?;
        let pid = child.id();
        self.shared.state().pids.push(pid);
        tracing::debug!(host = %self.name, %program, pid, log = %log_path.display(), "started");
        Ok(LabProcess::new(
            child,
            format!("{}:{label}", self.name),
            log_path,
            Arc::clone(&self.shared),
        ))
    }

    /// Writes `config_json` to the lab directory and starts
    /// `vrrpd_binary run --config FILE` in this host. `RUST_LOG` defaults to
    /// `debug` (override with `VRRPD_LAB_LOG`).
    pub fn start_vrrpd(&self, vrrpd_binary: &Path, config_json: &str) -> LabResult<LabProcess> {
        self.start_vrrpd_with_env(vrrpd_binary, config_json, &[])
    }

    /// [`Host::start_vrrpd`] with extra environment variables (e.g. `NOTIFY_SOCKET`).
    pub fn start_vrrpd_with_env(
        &self,
        vrrpd_binary: &Path,
        config_json: &str,
        env: &[(&str, &str)],
    ) -> LabResult<LabProcess> {
        // Each daemon gets its own control socket in the lab directory (unless the config
        // names one), so that labs neither share nor leave behind /run/vrrpd/control.sock.
        let with_socket = match serde_json::from_str::<serde_json::Value>(config_json) {
            Ok(serde_json::Value::Object(mut top)) => {
                if !top.contains_key("control_socket") {
                    let socket = self.unique_path("control", "sock");
                    top.insert(
                        "control_socket".to_owned(),
                        serde_json::Value::from(socket.to_string_lossy().into_owned()),
                    );
                }
                // One state directory per host, kept across restarts of its daemon (the
                // demoted hold must survive them), never the machine's /var/lib/vrrpd.
                if !top.contains_key("state_directory") {
                    top.insert(
                        "state_directory".to_owned(),
                        serde_json::Value::from(
                            self.state_directory().to_string_lossy().into_owned(),
                        ),
                    );
                }
                serde_json::Value::Object(top).to_string()
            }
            _ => config_json.to_owned(),
        };
        let config_path = self.write_file("vrrpd", "json", &with_socket)?;
        let binary = vrrpd_binary.to_string_lossy();
        let config = config_path.to_string_lossy();
        let log_level = std::env::var("VRRPD_LAB_LOG").unwrap_or_else(|_| "debug".into());
        let mut all_env = vec![("RUST_LOG", log_level.as_str())];
        all_env.extend_from_slice(env);
        self.spawn_with_env(&binary, &["run", "--config", &config], &all_env)
    }

    /// Writes `config` to the lab directory and starts keepalived (VRRP only,
    /// foreground, console log) with pid files of its own, so several can run
    /// on one machine.
    pub fn start_keepalived(&self, config: &str) -> LabResult<LabProcess> {
        let conf = self.write_file("keepalived", "conf", config)?;
        let pid = self.unique_path("keepalived", "pid");
        let vrrp_pid = self.unique_path("keepalived-vrrp", "pid");
        let check_pid = self.unique_path("keepalived-check", "pid");
        let paths = [&conf, &pid, &vrrp_pid, &check_pid].map(|p| p.to_string_lossy().into_owned());
        self.spawn(
            "keepalived",
            &[
                "-n", "-l", "-f", &paths[0], "-p", &paths[1], "-r", &paths[2], "-c", &paths[3],
                "--vrrp",
            ],
        )
    }

    /// Runs a command to completion inside the namespace.
    pub fn run(&self, program: &str, args: &[&str]) -> LabResult<Output> {
        let mut full = vec!["netns", "exec", self.netns.as_str(), program];
        full.extend_from_slice(args);
        run_checked("ip", &full)
    }

    /// Every address currently on any interface of the host (read natively
    /// with getifaddrs(3) from a thread that entered the namespace: cheap
    /// enough to sample every few milliseconds).
    pub fn addresses(&self) -> LabResult<Vec<IpAddr>> {
        self.in_netns(|| {
            let list = nix::ifaddrs::getifaddrs().map_err(|source| LabError::Sys {
                context: "getifaddrs".into(),
                source,
            })?;
            Ok(list
                .filter_map(|entry| {
                    let address = entry.address?;
                    if let Some(v4) = address.as_sockaddr_in() {
                        Some(IpAddr::V4(v4.ip()))
                    } else {
                        address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                    }
                })
                .collect())
        })
    }

    /// Whether `ip` is on any interface of the host. A failed query counts as
    /// "no" (and is logged): callers poll this.
    pub fn has_address(&self, ip: IpAddr) -> bool {
        match self.addresses() {
            Ok(list) => list.contains(&ip),
            Err(error) => {
                tracing::warn!(host = %self.name, %error, "address query failed");
                false
            }
        }
    }

    /// The addresses of `eth0` as `ip -j addr` reports them (a cross-check of
    /// [`Host::addresses`] through iproute2).
    pub fn ip_addr_json(&self) -> LabResult<Vec<IpAddr>> {
        self.interface_addresses(HOST_INTERFACE)
    }

    /// The addresses of `interface` as `ip -j addr` reports them.
    pub fn interface_addresses(&self, interface: &str) -> LabResult<Vec<IpAddr>> {
        let args = [
            "-n",
            self.netns.as_str(),
            "-j",
            "addr",
            "show",
            "dev",
            interface,
        ];
        let output = run_checked("ip", &args)?;
        let command = format!("ip {}", args.join(" "));
        let value: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| LabError::UnexpectedOutput {
                command: command.clone(),
                reason: e.to_string(),
            })?;
        let mut found = Vec::new();
        for link in value.as_array().into_iter().flatten() {
            for info in link["addr_info"].as_array().into_iter().flatten() {
                if let Some(local) = info["local"].as_str() {
                    let parsed = local.parse().map_err(|_| LabError::UnexpectedOutput {
                        command: command.clone(),
                        reason: format!("{local:?} is not an address"),
                    })?;
                    found.push(parsed);
                }
            }
        }
        Ok(found)
    }

    /// The MAC address of `eth0`, lower case, colon separated.
    pub fn mac(&self) -> LabResult<String> {
        self.interface_mac(HOST_INTERFACE)
    }

    /// The MAC address of `interface`, lower case, colon separated.
    pub fn interface_mac(&self, interface: &str) -> LabResult<String> {
        let args = [
            "-n",
            self.netns.as_str(),
            "-j",
            "link",
            "show",
            "dev",
            interface,
        ];
        let output = run_checked("ip", &args)?;
        let value: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| LabError::UnexpectedOutput {
                command: format!("ip {}", args.join(" ")),
                reason: e.to_string(),
            })?;
        value[0]["address"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| LabError::UnexpectedOutput {
                command: format!("ip {}", args.join(" ")),
                reason: "no link address".into(),
            })
    }

    /// The MAC address this host's neighbour table holds for `ip` (if any
    /// entry with a link-layer address exists).
    pub fn neighbour_mac(&self, ip: IpAddr) -> LabResult<Option<String>> {
        self.neighbour_mac_on(ip, HOST_INTERFACE)
    }

    /// The same on `interface`.
    pub fn neighbour_mac_on(&self, ip: IpAddr, interface: &str) -> LabResult<Option<String>> {
        let target = ip.to_string();
        let args = [
            "-n",
            self.netns.as_str(),
            "-j",
            "neigh",
            "show",
            "to",
            target.as_str(),
            "dev",
            interface,
        ];
        let output = run_checked("ip", &args)?;
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| LabError::UnexpectedOutput {
                command: format!("ip {}", args.join(" ")),
                reason: e.to_string(),
            })?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|entry| entry["lladdr"].as_str().map(str::to_ascii_lowercase)))
    }

    /// Creates the host's `eth0` (a veth whose other end, named after the host, is a port
    /// of the lab's bridge) with the host's addresses, and brings it up.
    fn plug_in_interface(&self) -> LabResult<()> {
        let sw = self.shared.switch_netns.as_str();
        // The switch-side end is named after the host (unique within this lab's own
        // switch namespace); the host end is created directly inside the host
        // namespace, so nothing ever appears in the root namespace.
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            "name",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            HOST_INTERFACE,
            "netns",
            &self.netns,
        ])?;
        ip(&["-n", sw, "link", "set", "dev", &self.name, "master", "br0"])?;
        ip(&["-n", sw, "link", "set", "dev", &self.name, "up"])?;
        // No duplicate address detection on the lab segment: the kernel's link-local
        // address (the source of VRRPv3 IPv6 adverts, RFC 5798 §5.1.2.1) is then
        // usable at once instead of "tentative" for ~1 s.
        self.in_netns(|| {
            let path = format!("/proc/sys/net/ipv6/conf/{HOST_INTERFACE}/accept_dad");
            std::fs::write(&path, "0").map_err(|e| LabError::io(format!("writing {path}"), e))
        })?;
        for address in &self.addresses {
            let mut args = vec![
                "-n",
                self.netns.as_str(),
                "addr",
                "add",
                address.text.as_str(),
                "dev",
                HOST_INTERFACE,
            ];
            if address.ip.is_ipv6() {
                args.push("nodad");
            }
            ip(&args)?;
        }
        ip(&[
            "-n",
            &self.netns,
            "link",
            "set",
            "dev",
            HOST_INTERFACE,
            "up",
        ])
    }

    /// Deletes the host's `eth0` (both ends of the veth): a NIC unplugged, a VLAN or
    /// bond torn down. The kernel takes its addresses with it.
    pub fn delete_interface(&self) -> LabResult<()> {
        ip(&["-n", &self.netns, "link", "del", "dev", HOST_INTERFACE])
    }

    /// Creates `eth0` again after [`Host::delete_interface`]: same name, same addresses,
    /// a new interface index and MAC (a veth recreated, a bond rebuilt).
    pub fn recreate_interface(&self) -> LabResult<()> {
        self.plug_in_interface()
    }

    /// Renames `eth0` to `name` (down, rename, up: the kernel renames only a down link).
    pub fn rename_interface(&self, from: &str, to: &str) -> LabResult<()> {
        ip(&["-n", &self.netns, "link", "set", "dev", from, "down"])?;
        ip(&["-n", &self.netns, "link", "set", "dev", from, "name", to])?;
        ip(&["-n", &self.netns, "link", "set", "dev", to, "up"])
    }

    /// Sets `eth0`'s MAC address while it stays up (veth allows it).
    pub fn set_mac(&self, mac: &str) -> LabResult<()> {
        ip(&[
            "-n",
            &self.netns,
            "link",
            "set",
            "dev",
            HOST_INTERFACE,
            "address",
            mac,
        ])
    }

    /// Partitions the segment: the host's port leaves the switch but stays up, so the
    /// host keeps its carrier (no link-down: nothing tells its daemon) and hears nobody,
    /// and nobody hears it. [`Host::rejoin`] joins the segment again.
    pub fn partition(&self) -> LabResult<()> {
        ip(&[
            "-n",
            &self.shared.switch_netns,
            "link",
            "set",
            "dev",
            &self.name,
            "nomaster",
        ])
    }

    /// Ends [`Host::partition`]: the port is a port of the switch again.
    pub fn rejoin(&self) -> LabResult<()> {
        ip(&[
            "-n",
            &self.shared.switch_netns,
            "link",
            "set",
            "dev",
            &self.name,
            "master",
            "br0",
        ])
    }

    /// Cable cut: sets the switch-side end of the host's veth down, so the
    /// host loses carrier and nothing passes either way.
    pub fn link_down(&self) -> LabResult<()> {
        ip(&[
            "-n",
            &self.shared.switch_netns,
            "link",
            "set",
            "dev",
            &self.name,
            "down",
        ])
    }

    /// Plugs the cable back in.
    pub fn link_up(&self) -> LabResult<()> {
        ip(&[
            "-n",
            &self.shared.switch_netns,
            "link",
            "set",
            "dev",
            &self.name,
            "up",
        ])
    }

    /// Pids of every process running in the host's namespace.
    pub fn pids(&self) -> Vec<u32> {
        netns_pids(&self.netns)
    }

    /// Sends `signal` to every process in the host's namespace.
    pub fn signal_all(&self, signal: Signal) -> usize {
        let pids = self.pids();
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid as i32), signal);
        }
        pids.len()
    }

    /// Simulates pulling the power: SIGKILL for every process in the host,
    /// cable cut, and the interface's runtime state lost (addresses other
    /// than the configured ones are removed, as after a reboot, so a VIP the
    /// killed daemon could not remove does not come back with the link).
    pub fn power_off(&self) -> LabResult<()> {
        self.signal_all(Signal::SIGKILL);
        self.link_down()?;
        let configured = self.configured_addresses();
        for address in self.ip_addr_json()? {
            let is_link_local =
                matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if configured.contains(&address) || is_link_local {
                continue;
            }
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            let text = format!("{address}/{prefix}");
            // The address may have another prefix length: delete by address
            // and let the kernel match it; retry with the exact /N if needed.
            if ip(&[
                "-n",
                &self.netns,
                "addr",
                "del",
                &text,
                "dev",
                HOST_INTERFACE,
            ])
            .is_err()
            {
                self.delete_address_any_prefix(address)?;
            }
        }
        // Wait (bounded) for the killed processes to be gone so a restart
        // cannot race with them.
        wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
            self.pids().is_empty()
        });
        Ok(())
    }

    /// Powers the host back on: the cable is plugged in again (processes have
    /// to be started again by the caller).
    pub fn power_on(&self) -> LabResult<()> {
        for address in &self.addresses {
            if !self.has_address(address.ip) {
                let mut args = vec![
                    "-n",
                    self.netns.as_str(),
                    "addr",
                    "add",
                    address.text.as_str(),
                    "dev",
                    HOST_INTERFACE,
                ];
                if address.ip.is_ipv6() {
                    args.push("nodad");
                }
                ip(&args)?;
            }
        }
        self.link_up()
    }

    fn delete_address_any_prefix(&self, address: IpAddr) -> LabResult<()> {
        let args = [
            "-n",
            self.netns.as_str(),
            "-j",
            "addr",
            "show",
            "dev",
            HOST_INTERFACE,
        ];
        let output = run_checked("ip", &args)?;
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let wanted = address.to_string();
        for link in value.as_array().into_iter().flatten() {
            for info in link["addr_info"].as_array().into_iter().flatten() {
                if info["local"].as_str() == Some(wanted.as_str()) {
                    let prefix = info["prefixlen"].as_u64().unwrap_or(32);
                    ip(&[
                        "-n",
                        &self.netns,
                        "addr",
                        "del",
                        &format!("{wanted}/{prefix}"),
                        "dev",
                        HOST_INTERFACE,
                    ])?;
                }
            }
        }
        Ok(())
    }

    /// Runs `work` on a short-lived thread that has entered this host's
    /// network namespace (setns(2) is per thread, so the caller is unaffected).
    pub fn in_netns<T: Send>(&self, work: impl FnOnce() -> LabResult<T> + Send) -> LabResult<T> {
        let handle_path = Path::new(NETNS_RUN_DIR).join(&self.netns);
        let handle = File::open(&handle_path)
            .map_err(|e| LabError::io(format!("opening {}", handle_path.display()), e))?;
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    setns(&handle, CloneFlags::CLONE_NEWNET).map_err(|source| LabError::Sys {
                        context: format!("entering network namespace {}", self.netns),
                        source,
                    })?;
                    work()
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(LabError::io(
                        "namespace worker thread",
                        io::Error::other("panicked"),
                    ))
                })
        })
    }

    /// The state directory this host's daemons use (see `state_directory`): the same
    /// for every daemon started on this host, inside the lab directory.
    pub fn state_directory(&self) -> PathBuf {
        self.shared.dir.join(format!("{}-state", self.name))
    }

    fn unique_path(&self, label: &str, extension: &str) -> PathBuf {
        static NEXT_FILE: AtomicU64 = AtomicU64::new(1);
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        self.shared
            .dir
            .join(format!("{}-{label}-{n}.{extension}", self.name))
    }

    fn write_file(&self, label: &str, extension: &str, contents: &str) -> LabResult<PathBuf> {
        let path = self.unique_path(label, extension);
        std::fs::write(&path, contents)
            .map_err(|e| LabError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// "192.0.2.41/24" → (address, 24). The prefix is required: a lab address
/// without one would be a /32 and unreachable from its neighbours.
fn parse_cidr(text: &str) -> LabResult<(IpAddr, u8)> {
    let invalid = |reason: &str| LabError::InvalidAddress {
        address: text.into(),
        reason: reason.into(),
    };
    let (address, prefix) = text
        .split_once('/')
        .ok_or_else(|| invalid("expected ADDRESS/PREFIX"))?;
    let ip: IpAddr = address.parse().map_err(|_| invalid("not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| invalid("bad prefix length"))?;
    Ok((ip, prefix))
}

fn run_checked(program: &str, args: &[&str]) -> LabResult<Output> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io(format!("running {program}"), e))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(LabError::CommandFailed {
            command: format!("{program} {}", args.join(" ")),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

fn ip(args: &[&str]) -> LabResult<()> {
    run_checked("ip", args).map(drop)
}

/// Pids in a namespace (`ip netns pids`); empty if the namespace is gone.
fn netns_pids(netns: &str) -> Vec<u32> {
    match Command::new("ip")
        .args(["netns", "pids", netns])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_tests_run_as_root_skip_in_the_sandbox_and_fail_elsewhere() {
        assert_eq!(super::root_test_decision(true, false), super::RootTest::Run);
        assert_eq!(super::root_test_decision(true, true), super::RootTest::Run);
        assert_eq!(
            super::root_test_decision(false, true),
            super::RootTest::Skip
        );
        assert_eq!(
            super::root_test_decision(false, false),
            super::RootTest::Fail
        );
    }

    /// Needs root (network namespaces): runs in CI, shows as SKIPPED in the Nix
    /// build sandbox (and in tests/source-set-check.sh).
    #[test]
    fn a_lab_host_is_a_namespace_that_goes_away_with_the_lab() {
        if super::skip_without_root(
            "lab::tests::a_lab_host_is_a_namespace_that_goes_away_with_the_lab",
            "creates a network namespace",
        ) {
            return;
        }
        let listed = |name: &str| {
            let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line.split_whitespace().next() == Some(name))
        };
        let mut lab = super::Lab::new("unit").unwrap();
        let host = lab.add_host("h1", &["192.0.2.41/24"]).unwrap();
        let netns = host.netns().to_owned();
        assert!(listed(&netns), "{netns} not in `ip netns list`");
        drop(host);
        drop(lab);
        assert!(!listed(&netns), "{netns} left behind");
    }

    use super::*;

    #[test]
    fn parse_cidr_requires_a_prefix_and_checks_its_range() {
        assert_eq!(
            parse_cidr("192.0.2.41/24").unwrap(),
            ("192.0.2.41".parse().unwrap(), 24)
        );
        assert_eq!(
            parse_cidr("2001:db8::41/64").unwrap(),
            ("2001:db8::41".parse().unwrap(), 64)
        );
        assert!(parse_cidr("192.0.2.41").is_err());
        assert!(parse_cidr("192.0.2.41/33").is_err());
        assert!(parse_cidr("lb01/24").is_err());
    }

    #[test]
    fn wait_until_reports_elapsed_time_or_none_on_timeout() {
        let start = Instant::now();
        let took = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
            start.elapsed() >= Duration::from_millis(30)
        });
        let took = took.expect("condition becomes true after 30 ms");
        assert!(
            took >= Duration::from_millis(30) && took < Duration::from_secs(1),
            "{took:?}"
        );

        let start = Instant::now();
        assert_eq!(
            wait_until(Duration::from_millis(50), Duration::from_millis(10), || {
                false
            }),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}
