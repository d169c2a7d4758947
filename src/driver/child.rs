//! The one way vrrpd starts a program: exec health checks ([`super::checks`]) and notify
//! hooks ([`super::notify`]) both run through [`run_bounded`].
//!
//! vrrpd holds CAP_NET_ADMIN and CAP_NET_RAW (under the shipped unit as *ambient*
//! capabilities of a dynamic user, which a plain `execve` passes on) or is root. A check
//! or hook is a program an operator wrote, often a shell script, and must not inherit
//! that. So by default, between fork and exec, the child:
//!
//! 1. when vrrpd holds CAP_SETPCAP (it runs as root outside the shipped unit): drops every
//!    capability from its bounding set and sets the securebits `NOROOT`, `NO_CAP_AMBIENT_RAISE`
//!    and the lock bits, so that uid 0 gains nothing at exec (capabilities(7), "The
//!    securebits flags");
//! 2. switches to the configured `user` (`setgroups`, `setgid`, `setuid`), when vrrpd is root;
//! 3. clears its ambient set (`PR_CAP_AMBIENT_CLEAR_ALL`);
//! 4. clears its effective, permitted and inheritable sets (`capset`);
//! 5. sets `no_new_privs` (`PR_SET_NO_NEW_PRIVS`).
//!
//! Steps 4 and 5 alone make `CapEff` 0 after exec even for a child that stays uid 0 and
//! could not do step 1: with `no_new_privs` the kernel gives an exec'd program at most
//! the permitted set its caller had (security/commoncap.c, `cap_bprm_creds_from_file`),
//! and that is now empty; setuid bits and file capabilities are ignored too. Step 1 makes
//! the same hold for anything the child later does, independent of that rule.
//!
//! The environment is cleared: a child gets `PATH` ([`child_path`]) and the variables its
//! caller documents (`VRRPD_TRACKER` for checks, `VRRPD_INSTANCE`, `VRRPD_STATE`,
//! `VRRPD_OLD_STATE`, `VRRPD_PRIORITY` for hooks), nothing of vrrpd's own environment
//! (`NOTIFY_SOCKET`, `WATCHDOG_*`, `CREDENTIALS_DIRECTORY`, `INVOCATION_ID`, `LD_*`, …).
//! Its working directory is `/`, its stdin `/dev/null`.
//!
//! Everything between fork and exec ([`drop_privileges`]) is a raw system call through
//! `libc`: no allocation, no lock, nothing that is not async-signal-safe (the parent may
//! have other threads whose locks a forked child would inherit held).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `PATH` for a child when vrrpd's own is unset or has no absolute directory: the
/// FHS directories, as Debian's `/etc/login.defs` gives root (`ENV_SUPATH`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The uid and gid a child switches to (only when vrrpd runs as root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// What a child may keep of vrrpd's privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildPrivileges {
    /// The default: no capability in any set, `no_new_privs`, and as root no bounding set
    /// and locked securebits; as `run_as` if given.
    Dropped { run_as: Option<RunAs> },
    /// A notify hook's `keep_privileges`: the child gets what a plain `execve` by vrrpd
    /// gives (under the shipped unit: its uid and ambient CAP_NET_ADMIN, CAP_NET_RAW; as
    /// root: root). The environment is still clean.
    KeptFromVrrpd,
}

/// Why [`run_bounded`] did not return an exit status.
#[derive(Debug)]
pub enum RunFailure {
    Spawn(io::Error),
    TimedOut,
}

/// A configured `user` that names nobody on this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownUser;

/// A user name or numeric uid, with its primary group. `Ok(None)`: vrrpd is not root, so
/// the child runs as vrrpd's own user (the caller says so in its log). Reads the user
/// database (NSS), so it may block: not on the protocol loop's hot path.
pub fn resolve_user(user: &str) -> Result<Option<RunAs>, UnknownUser> {
    let found = match user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(user),
    };
    let found = found.ok().flatten().ok_or(UnknownUser)?;
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    Ok(Some(RunAs {
        uid: found.uid.as_raw(),
        gid: found.gid.as_raw(),
    }))
}

/// The `PATH` every child gets: vrrpd's own `PATH` (what the service manager or the
/// operator set: systemd's default, or the NixOS module's `extraPackages`) with every
/// empty or relative entry removed (they would name the working directory), or
/// [`DEFAULT_PATH`] when nothing is left or vrrpd has none. Read once.
pub fn child_path() -> &'static OsString {
    static PATH: OnceLock<OsString> = OnceLock::new();
    PATH.get_or_init(|| absolute_entries(std::env::var_os("PATH")))
}

fn absolute_entries(path: Option<OsString>) -> OsString {
    let kept: Vec<&[u8]> = path
        .as_ref()
        .map(|path| {
            path.as_bytes()
                .split(|byte| *byte == b':')
                .filter(|entry| entry.first() == Some(&b'/'))
                .collect()
        })
        .unwrap_or_default();
    if kept.is_empty() {
        OsString::from(DEFAULT_PATH)
    } else {
        OsString::from_vec(kept.join(&b':'))
    }
}

/// Run `argv` in its own process group with `privileges`, an environment of exactly
/// `PATH` and `env`, and `output` as stdout (stderr is vrrpd's); SIGKILL to the whole
/// group at `timeout`.
pub async fn run_bounded(
    argv: &[String],
    privileges: ChildPrivileges,
    env: &[(String, String)],
    timeout: Duration,
    output: Stdio,
) -> Result<ExitStatus, RunFailure> {
    let Some((program, args)) = argv.split_first() else {
        return Err(RunFailure::Spawn(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command",
        )));
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", child_path())
        .envs(
            env.iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        )
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(output)
        .process_group(0)
        .kill_on_drop(true);
    if let ChildPrivileges::Dropped { run_as } = privileges {
        // Decided here, in the parent: the child only makes system calls.
        let plan = DropPlan {
            run_as,
            clear_bounding_set: effective_capabilities()
                .is_ok_and(|caps| caps & CAP_SETPCAP_BIT != 0),
        };
        // SAFETY: `drop_privileges` makes only raw system calls (prctl, setgroups, setgid,
        // setuid, capset), which are async-signal-safe, and allocates nothing; `plan` is
        // plain data copied into the closure.
        unsafe {
            command.pre_exec(move || drop_privileges(plan));
        }
    }
    let mut child = command.spawn().map_err(RunFailure::Spawn)?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(error)) => Err(RunFailure::Spawn(error)),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                // The group id is the child's pid (process_group(0)).
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            Err(RunFailure::TimedOut)
        }
    }
}

/// linux/capability.h: CAP_SETPCAP, needed to change the bounding set and securebits.
const CAP_SETPCAP: u32 = 8;
const CAP_SETPCAP_BIT: u64 = 1 << CAP_SETPCAP;
/// linux/capability.h: _LINUX_CAPABILITY_VERSION_3 (64-bit sets, two data structs).
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capability numbers are below 64 (two 32-bit words); PR_CAPBSET_DROP answers EINVAL
/// past the kernel's last one, which ends the loop earlier.
const CAPABILITY_NUMBERS: libc::c_ulong = 64;
/// Root gains nothing at exec, setuid always drops capabilities, the ambient set cannot
/// be raised again; all locked (capabilities(7)).
const LOCKED_SECUREBITS: libc::c_int = libc::SECBIT_NOROOT
    | libc::SECBIT_NOROOT_LOCKED
    | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
    | libc::SECBIT_KEEP_CAPS_LOCKED
    | libc::SECBIT_NO_CAP_AMBIENT_RAISE
    | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two (low and high 32 bits).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This thread's effective capability set, as a 64-bit mask.
fn effective_capabilities() -> io::Result<u64> {
    let mut header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapabilityData::default(); 2];
    // SAFETY: capget reads the header and writes two data structs, both valid and
    // exclusively borrowed for the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapabilityHeader,
            data.as_mut_ptr(),
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// What the child does between fork and exec, decided by the parent.
#[derive(Clone, Copy, Debug)]
struct DropPlan {
    run_as: Option<RunAs>,
    /// vrrpd holds CAP_SETPCAP: also empty the bounding set and lock the securebits.
    clear_bounding_set: bool,
}

/// `prctl(2)` with every argument as the `unsigned long` the kernel reads: some options
/// refuse non-zero unused arguments (PR_CAP_AMBIENT, PR_SET_NO_NEW_PRIVS), and a variadic
/// `int` would leave the upper half of the register undefined.
fn prctl(
    option: libc::c_int,
    arg2: libc::c_ulong,
    arg3: libc::c_ulong,
    arg4: libc::c_ulong,
    arg5: libc::c_ulong,
) -> io::Result<libc::c_int> {
    // SAFETY: integer arguments only; none of the options used here takes a pointer.
    crate::driver::sys::check(unsafe { libc::prctl(option, arg2, arg3, arg4, arg5) })
}

/// Runs in the forked child: only raw system calls, no allocation (see the module
/// documentation for the order and why it suffices). An error aborts the spawn: the
/// program is never run with more than it should have.
fn drop_privileges(plan: DropPlan) -> io::Result<()> {
    // Needs CAP_SETPCAP: first, before setuid or capset take it away.
    if plan.clear_bounding_set {
        for capability in 0..CAPABILITY_NUMBERS {
            match prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) {
                Ok(_) => {}
                // Past the kernel's last capability.
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => break,
                Err(error) => return Err(error),
            }
        }
        let current = prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0)?;
        let wanted = (current | LOCKED_SECUREBITS) as libc::c_ulong;
        prctl(libc::PR_SET_SECUREBITS, wanted, 0, 0, 0)?;
    }
    // Needs CAP_SETGID and CAP_SETUID: before capset. Groups first, then gid, then uid,
    // so that the uid change (which also empties the capability sets) comes last.
    if let Some(RunAs { uid, gid }) = plan.run_as {
        // SAFETY: setgroups reads one gid from a valid pointer; setgid/setuid take integers.
        unsafe {
            if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
        0,
        0,
    )?;
    let header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let empty = [CapabilityData::default(); 2];
    // SAFETY: capset reads the header and two data structs from valid pointers; lowering
    // every set is always permitted.
    let result = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &header as *const CapabilityHeader,
            empty.as_ptr(),
        )
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        // EPERM here means a seccomp filter refused the call (lowering every set is
        // otherwise always permitted): `SystemCallFilter=~@privileged`, of which capset is
        // part, in a unit that does not allow it back as the shipped one does. Running the
        // child anyway gives it no capability: the ambient set is empty, and with
        // no_new_privs (below) an exec'd program gets at most the permitted set of a
        // non-root caller, which the uid change or the unit's DynamicUser left without
        // root's implicit capabilities; only the inheritable set stays, which file
        // capabilities could use and no_new_privs ignores. Refusing would leave every
        // hook and check of such a unit unrun.
        if error.raw_os_error() != Some(libc::EPERM) {
            return Err(error);
        }
    }
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)?;
    Ok(())
}

/// What a child saw, for the tests of every path that spawns one (checks, hooks, this
/// module): a `/bin/sh -c` script that copies its own `/proc/$$/status` and
/// `/proc/$$/environ` (the shell's, i.e. exactly what the spawn gave it) into a directory.
#[cfg(test)]
pub(crate) mod observed {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    /// A directory any user can write to (a child may run as `nobody`), removed on drop.
    pub struct Dump {
        dir: PathBuf,
    }

    impl Dump {
        pub fn new(tag: &str) -> Dump {
            use std::sync::atomic::{AtomicU64, Ordering};
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let serial = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("vrrpd-child-{tag}-{}-{serial}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            Dump { dir }
        }

        pub fn script(&self) -> String {
            let dir = self.dir.display();
            format!("cat /proc/$$/status > {dir}/status && cat /proc/$$/environ > {dir}/environ")
        }

        pub fn argv(&self) -> Vec<String> {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), self.script()]
        }

        pub fn ran(&self) -> bool {
            self.dir.join("environ").exists()
        }

        pub fn status(&self) -> Status {
            Status::parse(&std::fs::read_to_string(self.dir.join("status")).unwrap())
        }

        pub fn environment(&self) -> BTreeMap<String, String> {
            let bytes = std::fs::read(self.dir.join("environ")).unwrap();
            bytes
                .split(|byte| *byte == 0)
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    let entry = String::from_utf8_lossy(entry);
                    let (key, value) = entry.split_once('=').unwrap_or((&entry, ""));
                    (key.to_owned(), value.to_owned())
                })
                .collect()
        }
    }

    impl Drop for Dump {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// `/proc/PID/status`, by field.
    #[derive(Debug)]
    pub struct Status(BTreeMap<String, String>);

    impl Status {
        pub fn parse(text: &str) -> Status {
            Status(
                text.lines()
                    .filter_map(|line| line.split_once(':'))
                    .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
                    .collect(),
            )
        }

        pub fn own() -> Status {
            Status::parse(&std::fs::read_to_string("/proc/self/status").unwrap())
        }

        pub fn field(&self, key: &str) -> &str {
            self.0
                .get(key)
                .unwrap_or_else(|| panic!("no {key} in {self:?}"))
        }

        /// A capability set (CapInh, CapPrm, CapEff, CapBnd, CapAmb).
        pub fn capabilities(&self, key: &str) -> u64 {
            u64::from_str_radix(self.field(key), 16).unwrap()
        }

        /// The first (real) id of a Uid: or Gid: line.
        pub fn id(&self, key: &str) -> u32 {
            self.field(key)
                .split_whitespace()
                .next()
                .and_then(|id| id.parse().ok())
                .unwrap()
        }

        /// The four sets a program could use now or after its own exec, and no_new_privs,
        /// as one line for assertion messages.
        pub fn summary(&self) -> String {
            [
                "Uid",
                "CapInh",
                "CapPrm",
                "CapEff",
                "CapAmb",
                "CapBnd",
                "NoNewPrivs",
            ]
            .iter()
            .map(|key| format!("{key} {}", self.0.get(*key).map_or("?", String::as_str)))
            .collect::<Vec<_>>()
            .join(", ")
        }

        /// What a default child must look like: no capability in the inheritable,
        /// permitted, effective and ambient sets, and no_new_privs.
        pub fn assert_unprivileged(&self) {
            for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
                assert_eq!(self.capabilities(set), 0, "{set}: {}", self.summary());
            }
            assert_eq!(self.field("NoNewPrivs"), "1", "{}", self.summary());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::observed::{Dump, Status};
    use super::*;

    const CAP_NET_ADMIN_AND_NET_RAW: u64 = (1 << 12) | (1 << 13);

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn run(dump: &Dump, privileges: ChildPrivileges, env: &[(&str, &str)]) {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let status = rt()
            .block_on(run_bounded(
                &dump.argv(),
                privileges,
                &env,
                Duration::from_secs(10),
                Stdio::null(),
            ))
            .unwrap();
        assert!(status.success(), "{status}");
    }

    fn expected_environment(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut expected: BTreeMap<String, String> = extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        expected.insert(
            "PATH".to_owned(),
            child_path().to_string_lossy().into_owned(),
        );
        expected
    }

    #[test]
    fn path_keeps_only_absolute_directories() {
        let path = |text: &str| absolute_entries(Some(OsString::from(text)));
        assert_eq!(
            path("/nix/store/x/bin:/usr/bin"),
            "/nix/store/x/bin:/usr/bin"
        );
        assert_eq!(path(".:/usr/bin::bin:/sbin:"), "/usr/bin:/sbin");
        assert_eq!(path(""), DEFAULT_PATH);
        assert_eq!(path(".:bin"), DEFAULT_PATH);
        assert_eq!(absolute_entries(None), DEFAULT_PATH);
    }

    /// Whatever vrrpd is (root with every capability, root without CAP_SETPCAP, a user
    /// with ambient CAP_NET_ADMIN and CAP_NET_RAW as under the shipped unit, or a plain
    /// user as in the Nix build), a default child has no capability in any set it could
    /// use, no_new_privs, vrrpd's uid, and exactly PATH and the caller's variables; with
    /// `KeptFromVrrpd` it has vrrpd's effective set. As root (CI) the test also runs
    /// itself again in the two other settings (see `run_again`), so all of them are
    /// checked on every CI run.
    #[test]
    fn children_have_no_capabilities_and_only_the_documented_environment() {
        let parent = Status::own();
        let has_setpcap = parent.capabilities("CapEff") & CAP_SETPCAP_BIT != 0;
        // Read by the runs of this test as someone else (run_again).
        println!(
            "vrrpd-under-test: CapAmb {:016x}, CAP_SETPCAP {has_setpcap}",
            parent.capabilities("CapAmb")
        );
        let env = [("VRRPD_TRACKER", "caddy")];

        let dropped = Dump::new("dropped");
        run(&dropped, ChildPrivileges::Dropped { run_as: None }, &env);
        let child = dropped.status();
        child.assert_unprivileged();
        assert_eq!(child.id("Uid"), parent.id("Uid"));
        if has_setpcap {
            assert_eq!(child.capabilities("CapBnd"), 0, "{}", child.summary());
        }
        assert_eq!(dropped.environment(), expected_environment(&env));
        // The parent's environment (cargo's, the shell's) is not empty, so the equality
        // above shows it was not passed on.
        assert!(
            std::env::vars_os().any(|(key, _)| key != "PATH"),
            "the test needs some variable besides PATH to prove the child did not get it"
        );

        let kept = Dump::new("kept");
        run(&kept, ChildPrivileges::KeptFromVrrpd, &env);
        let child = kept.status();
        assert_eq!(
            child.capabilities("CapEff"),
            parent.capabilities("CapEff"),
            "{}",
            child.summary()
        );
        assert_eq!(child.field("NoNewPrivs"), parent.field("NoNewPrivs"));
        assert_eq!(kept.environment(), expected_environment(&env));

        if nix::unistd::geteuid().is_root() && has_setpcap {
            let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
            let as_nobody = Dump::new("nobody");
            let run_as = resolve_user("nobody").unwrap();
            assert_eq!(
                run_as,
                Some(RunAs {
                    uid: nobody.uid.as_raw(),
                    gid: nobody.gid.as_raw()
                })
            );
            run(&as_nobody, ChildPrivileges::Dropped { run_as }, &env);
            let child = as_nobody.status();
            child.assert_unprivileged();
            assert_eq!(child.capabilities("CapBnd"), 0);
            assert_eq!(child.id("Uid"), nobody.uid.as_raw());
            assert_eq!(child.id("Gid"), nobody.gid.as_raw());
            assert_eq!(child.field("Groups"), nobody.gid.to_string());
            assert_eq!(resolve_user("no-such-user-vrrpd"), Err(UnknownUser));

            // The shipped unit: a dynamic user with ambient CAP_NET_ADMIN and CAP_NET_RAW.
            let said = run_again(&[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=+net_admin,+net_raw",
                "--ambient-caps=+net_admin,+net_raw",
            ]);
            assert!(
                said.contains(&format!(
                    "vrrpd-under-test: CapAmb {CAP_NET_ADMIN_AND_NET_RAW:016x}, CAP_SETPCAP false"
                )),
                "{said}"
            );
            // Root that cannot empty the bounding set (a container, or a unit with
            // User=root and a CapabilityBoundingSet= without it): no_new_privs and the
            // emptied permitted set must suffice.
            let said = run_again(&["--bounding-set=-setpcap"]);
            assert!(said.contains("CAP_SETPCAP false"), "{said}");
        }
    }

    /// Runs this test binary again under `setpriv ARGS`, filtered to the test above, and
    /// returns what it printed; "1 passed" shows that the filter matched and it passed.
    fn run_again(setpriv: &[&str]) -> String {
        let module = module_path!();
        let module = module.split_once("::").map_or(module, |(_, rest)| rest);
        let name =
            format!("{module}::children_have_no_capabilities_and_only_the_documented_environment");
        let output = std::process::Command::new("setpriv")
            .args(setpriv)
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1", "--nocapture"])
            .current_dir("/")
            .output()
            .expect("running setpriv (util-linux)");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && said.contains("1 passed"),
            "under setpriv {setpriv:?}: {}\n{said}",
            output.status
        );
        said
    }
}
