//! The `vrrpd` command line: run the daemon, check a config, print the schema,
//! run the network-namespace demo, convert a keepalived.conf.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit status for success.
const EXIT_OK: u8 = 0;
/// Exit status for a failure while running (sockets, netlink, permissions).
const EXIT_RUNTIME_ERROR: u8 = 1;
/// Exit status for an unreadable or invalid configuration (and bad command-line usage).
const EXIT_CONFIG_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "vrrpd",
    version,
    about = "A VRRP daemon (VRRPv2 RFC 3768, VRRPv3 RFC 5798/9568) with a JSON config",
    long_about = "A VRRP daemon (VRRPv2 RFC 3768, VRRPv3 RFC 5798/9568) with a JSON config.\n\n\
                  vrrpd moves virtual IP addresses between hosts on one LAN: the host with the \
                  highest priority holds them and advertises that it is alive; when it stops, \
                  another takes over within a few advertisement intervals. It interoperates \
                  with keepalived.",
    after_help = "Exit status: 0 on success, 1 on a runtime error (sockets, netlink, \
                  permissions), 2 on an unreadable or invalid configuration or bad usage.\n\
                  Logging: --log-level, else RUST_LOG, else \"info\"; to stderr, without \
                  colours unless stderr is a terminal and without timestamps under systemd's \
                  journal (JOURNAL_STREAM)."
)]
struct Cli {
    /// Log filter: error, warn, info, debug or trace, or a RUST_LOG-style directive
    /// such as "vrrpd=debug". Takes precedence over RUST_LOG; the default is info.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground until SIGTERM or SIGINT.
    ///
    /// Needs CAP_NET_RAW and CAP_NET_ADMIN. Talks to systemd when started as a
    /// Type=notify (or notify-reload) service: READY=1, STATUS= with each
    /// instance's state, WATCHDOG=1. SIGHUP re-reads the config: unchanged
    /// instances keep their state, and an invalid new config is logged and
    /// ignored. On stop, a master sends a priority-0 advertisement so the backup
    /// takes over at once, and all virtual addresses are removed.
    Run {
        /// The JSON configuration file (see `vrrpd schema`).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Run the protocol loop in the SCHED_RR realtime class at this priority (1-99),
        /// so that adverts leave on time on a loaded machine (keepalived's
        /// `vrrp_rt_priority`). Checks and hooks stay at normal priority (reset on
        /// fork). Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least this (the shipped
        /// unit sets LimitRTPRIO=); if refused, vrrpd says so and runs at normal
        /// priority. Without it, normal scheduling.
        #[arg(long, value_name = "PRIORITY", value_parser = clap::value_parser!(u8).range(1..=99))]
        realtime_priority: Option<u8>,
        /// Lock the daemon's memory into RAM (mlockall), so that swap or the page
        /// cache's reclaim cannot evict what an advert or a takeover needs
        /// (keepalived's `vrrp_no_swap`). Costs the executable resident in full. Needs
        /// an RLIMIT_MEMLOCK above the daemon's size (the shipped unit sets
        /// LimitMEMLOCK=) or CAP_IPC_LOCK; if refused, vrrpd says so and runs unlocked.
        #[arg(long)]
        lock_memory: bool,
    },
    /// Validate a configuration file and exit.
    ///
    /// Prints "FILE: OK, N instance(s)" and exits 0, or lists every problem
    /// with its JSON location and exits 2.
    Check {
        /// The JSON configuration file to validate.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show every instance's state, priorities, master, last transition and counters.
    ///
    /// Asks the running daemon over its control socket (root or vrrpd's group). Exits 1
    /// when the daemon cannot be reached.
    Status {
        /// Print the daemon's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
        /// The control socket; default: the config's `control_socket` when --config is
        /// given, else /run/vrrpd/control.sock.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Read the control socket path from this configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Hand mastership to the peer without a lost packet and stay BACKUP until promoted.
    ///
    /// For planned maintenance. A MASTER sends a priority-0 advertisement but keeps its
    /// virtual addresses until the new master is heard (make-before-break); this command
    /// waits for that (bounded) and reports who took over. From then on the instance
    /// advertises priority 1 and never preempts, whatever its configured priority, so it
    /// takes the addresses back only if no other router serves them. The hold is saved
    /// under the state directory and survives a restart and a reboot. Exits 1 when the
    /// daemon cannot be reached or the instance is unknown.
    Demote {
        /// The instance to demote; every instance when omitted.
        #[arg(value_name = "INSTANCE")]
        instance: Option<String>,
        /// The control socket; default: the config's `control_socket` when --config is
        /// given, else /run/vrrpd/control.sock.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Read the control socket path from this configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Undo `vrrpd demote`: advertise the configured priority again.
    ///
    /// A BACKUP whose priority is above the master's then preempts it without a lost
    /// packet (it adds the addresses and sends gratuitous ARP before the old master lets
    /// go) within Master_Down_Interval. Clears the saved hold. Exits 1 when the daemon
    /// cannot be reached or the instance is unknown.
    Promote {
        /// The instance to promote; every instance when omitted.
        #[arg(value_name = "INSTANCE")]
        instance: Option<String>,
        /// The control socket; default: the config's `control_socket` when --config is
        /// given, else /run/vrrpd/control.sock.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Read the control socket path from this configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the configuration's JSON Schema, for editors and CI validation.
    Schema,
    /// Show a failover between two vrrpd instances in throwaway network namespaces.
    ///
    /// Needs root. Creates namespaces and a bridge with documentation addresses
    /// (192.0.2.0/24), runs a master and a backup, stops the master and shows
    /// the backup taking over, then removes everything it created.
    Demo,
    /// Convert a keepalived.conf into a vrrpd JSON configuration on stdout.
    ///
    /// Converts vrrp_instance blocks (and the global settings they use). Settings
    /// vrrpd does not support are errors unless --allow-partial is given; then
    /// they are skipped with a warning on stderr.
    ImportKeepalived {
        /// The keepalived.conf to convert.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Skip unsupported keepalived settings (warning about each) instead of failing.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Internal: the daemon's schema check, run in a short-lived child process. Reads a
    /// config document on stdin and writes its schema problems to stdout as JSON lines.
    #[command(name = vrrpd::config::isolated::SCHEMA_CHECK_COMMAND, hide = true)]
    InternalSchemaCheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = init_logging(cli.log_level.as_deref()) {
        eprintln!("vrrpd: {message}");
        return ExitCode::from(EXIT_CONFIG_ERROR);
    }
    ExitCode::from(match cli.command {
        Command::Run {
            config,
            realtime_priority,
            lock_memory,
        } => run(&config, realtime_priority, lock_memory),
        Command::Check { config } => check(&config),
        Command::Status {
            json,
            socket,
            config,
        } => status(json, socket, config),
        Command::Demote {
            instance,
            socket,
            config,
        } => change_hold(true, instance, socket, config),
        Command::Promote {
            instance,
            socket,
            config,
        } => change_hold(false, instance, socket, config),
        Command::Schema => schema(),
        Command::Demo => demo(),
        Command::ImportKeepalived {
            file,
            allow_partial,
        } => import_keepalived(&file, allow_partial),
        Command::InternalSchemaCheck => vrrpd::config::isolated::serve_schema_check(
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ),
    })
}

fn run(config: &Path, realtime_priority: Option<u8>, lock_memory: bool) -> u8 {
    if let Some(priority) = realtime_priority {
        vrrpd::driver::enter_realtime(priority);
    }
    if lock_memory {
        vrrpd::driver::lock_memory();
    }
    match vrrpd::driver::run(config) {
        Ok(()) => EXIT_OK,
        Err(error) => {
            tracing::error!("{error}");
            error.exit_code()
        }
    }
}

fn check(config: &Path) -> u8 {
    match vrrpd::config::load_file(config) {
        Ok(loaded) => {
            println!(
                "{}: OK, {} instance(s)",
                config.display(),
                loaded.instances.len()
            );
            EXIT_OK
        }
        Err(error) => {
            eprintln!("{error}");
            EXIT_CONFIG_ERROR
        }
    }
}

/// The control socket from --socket, else from --config, else the default.
fn control_socket(socket: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf, u8> {
    match (socket, config) {
        (Some(socket), _) => Ok(socket),
        (None, Some(config)) => match vrrpd::config::load_file(&config) {
            Ok(loaded) => Ok(PathBuf::from(loaded.control_socket_path())),
            Err(error) => {
                eprintln!("{error}");
                Err(EXIT_CONFIG_ERROR)
            }
        },
        (None, None) => Ok(PathBuf::from(vrrpd::config::DEFAULT_CONTROL_SOCKET)),
    }
}

/// `vrrpd demote` / `vrrpd promote`: ask, print what happened, and for a demoted master
/// wait (bounded) for its make-before-break hand-over to end and say how it ended.
fn change_hold(
    demote: bool,
    instance: Option<String>,
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
) -> u8 {
    use vrrpd::driver::control::{Command as ControlCommand, request};
    let socket = match control_socket(socket, config) {
        Ok(socket) => socket,
        Err(code) => return code,
    };
    let command = if demote {
        ControlCommand::Demote { instance }
    } else {
        ControlCommand::Promote { instance }
    };
    let response = match request(&socket, &command) {
        Ok(response) => response,
        Err(error) => {
            eprintln!("vrrpd: {error}");
            return EXIT_RUNTIME_ERROR;
        }
    };
    if !response.ok {
        eprintln!(
            "vrrpd: {}",
            response
                .error
                .unwrap_or_else(|| "request refused".to_owned())
        );
        return EXIT_RUNTIME_ERROR;
    }
    let mut waiting = Vec::new();
    for change in &response.changes {
        println!("{}: {}", change.instance, change.message);
        if change.handing_over {
            waiting.push(change.instance.clone());
        }
    }
    if waiting.is_empty() {
        return EXIT_OK;
    }
    // The daemon gives up a hand-over after at most MAX_HAND_OVER_WAIT; a little more
    // here so the outcome is reported rather than a guess.
    let give_up_at = std::time::Instant::now()
        + vrrpd::core::state::MAX_HAND_OVER_WAIT
        + std::time::Duration::from_secs(2);
    while !waiting.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let report = match request(&socket, &ControlCommand::Status) {
            Ok(vrrpd::driver::control::Response {
                status: Some(report),
                ..
            }) => report,
            Ok(other) => {
                eprintln!("vrrpd: {}", other.error.unwrap_or_default());
                return EXIT_RUNTIME_ERROR;
            }
            Err(error) => {
                eprintln!("vrrpd: {error}");
                return EXIT_RUNTIME_ERROR;
            }
        };
        waiting.retain(|name| {
            let Some(status) = report.instances.iter().find(|i| &i.name == name) else {
                println!("{name}: no longer configured");
                return false;
            };
            if status.handing_over {
                return true;
            }
            match (status.state.as_str(), status.master_address) {
                ("BACKUP", Some(master)) => {
                    println!("{name}: handed over to {master}; BACKUP, demoted")
                }
                ("MASTER", _) => println!(
                    "{name}: nobody took over; still MASTER (demoted, advertising priority 1) \
                     because no other router serves the addresses"
                ),
                (state, _) => println!("{name}: hand-over ended; {state}, demoted"),
            }
            false
        });
        if std::time::Instant::now() >= give_up_at {
            for name in &waiting {
                eprintln!("vrrpd: {name}: still handing over; see `vrrpd status`");
            }
            return EXIT_RUNTIME_ERROR;
        }
    }
    EXIT_OK
}

fn status(json: bool, socket: Option<PathBuf>, config: Option<PathBuf>) -> u8 {
    let socket = match control_socket(socket, config) {
        Ok(socket) => socket,
        Err(code) => return code,
    };
    use vrrpd::driver::control::{Command as ControlCommand, request};
    let response = match request(&socket, &ControlCommand::Status) {
        Ok(response) => response,
        Err(error) => {
            eprintln!("vrrpd: {error}");
            return EXIT_RUNTIME_ERROR;
        }
    };
    let Some(report) = response.status else {
        eprintln!(
            "vrrpd: {}",
            response
                .error
                .unwrap_or_else(|| "no status in the answer".to_owned())
        );
        return EXIT_RUNTIME_ERROR;
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("vrrpd: {error}");
                return EXIT_RUNTIME_ERROR;
            }
        }
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        print!("{}", vrrpd::driver::status::render_table(&report, now));
    }
    EXIT_OK
}

fn schema() -> u8 {
    match serde_json::to_string_pretty(&vrrpd::config::schema()) {
        Ok(text) => {
            println!("{text}");
            EXIT_OK
        }
        Err(error) => {
            eprintln!("vrrpd: cannot print the schema: {error}");
            EXIT_RUNTIME_ERROR
        }
    }
}

fn demo() -> u8 {
    match vrrpd::lab::run_demo() {
        Ok(()) => EXIT_OK,
        Err(error) => {
            eprintln!("vrrpd demo: {error}");
            EXIT_RUNTIME_ERROR
        }
    }
}

fn import_keepalived(file: &Path, allow_partial: bool) -> u8 {
    match vrrpd::import_keepalived::run(file, allow_partial) {
        Ok(output) => {
            for warning in &output.warnings {
                eprintln!("{warning}");
            }
            print!("{}", output.json);
            EXIT_OK
        }
        Err(error) => {
            eprintln!("vrrpd import-keepalived: {error}");
            EXIT_CONFIG_ERROR
        }
    }
}

/// tracing to stderr: no ANSI colours unless stderr is a terminal, and no
/// timestamps when stderr is systemd's journal (which stamps every line itself).
fn init_logging(level: Option<&str>) -> Result<(), String> {
    let filter = match level {
        Some(directive) => EnvFilter::try_new(directive)
            .map_err(|error| format!("invalid --log-level {directive:?}: {error}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let stderr = std::io::stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr.is_terminal())
        .with_target(false);
    let result = if stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref()) {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|error| format!("cannot set up logging: {error}"))
}

/// systemd sets JOURNAL_STREAM="DEVICE:INODE" of the journal stream it gave us
/// (systemd.exec(5)); it is only our stderr if the numbers match, since the
/// variable is inherited by children whose stderr may be redirected.
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    let Some((device, inode)) = journal_stream.and_then(parse_journal_stream) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(stat) => stat.st_dev == device && stat.st_ino == inode,
        Err(_) => false,
    }
}

fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (device, inode) = value.trim().split_once(':')?;
    Some((device.parse().ok()?, inode.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_accepts_short_and_long_config() {
        for flag in ["-c", "--config"] {
            let cli = Cli::try_parse_from(["vrrpd", "run", flag, "/etc/vrrpd.json"]).unwrap();
            match cli.command {
                Command::Run { config, .. } => {
                    assert_eq!(config, PathBuf::from("/etc/vrrpd.json"))
                }
                other => panic!("parsed as {other:?}"),
            }
        }
        assert!(
            Cli::try_parse_from(["vrrpd", "run"]).is_err(),
            "--config is required"
        );
    }

    #[test]
    fn import_keepalived_takes_a_file_and_allow_partial() {
        let cli = Cli::try_parse_from(["vrrpd", "import-keepalived", "k.conf", "--allow-partial"])
            .unwrap();
        match cli.command {
            Command::ImportKeepalived {
                file,
                allow_partial,
            } => {
                assert_eq!(file, PathBuf::from("k.conf"));
                assert!(allow_partial);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn log_level_is_global() {
        let cli = Cli::try_parse_from(["vrrpd", "check", "-c", "x.json", "--log-level", "debug"])
            .unwrap();
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("Exit status: 0 on success, 1 on a runtime error"),
            "{help}"
        );
        assert!(help.contains("2 on an unreadable or invalid configuration"));
    }

    #[test]
    fn journal_stream_parsing() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("garbage"), None);
        assert_eq!(parse_journal_stream("8:"), None);
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("0:0")));
    }
}
