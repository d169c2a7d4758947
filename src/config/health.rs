//! Health tracking, notify hooks, status and metrics settings (issue 5).
//!
//! Trackers are declared once at the top level (like keepalived's `vrrp_script`) and used
//! by instances through `track` entries that carry the weight (like `track_script`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Default path of the control socket that `vrrpd status` talks to.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/vrrpd/control.sock";

/// One health check, run on its own schedule off the protocol loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackerConfig {
    /// Tracker name, unique in the file; instances refer to it in `track` and status and
    /// metrics show it. Letters, digits, '.', '_' and '-'. keepalived: the NAME of
    /// `vrrp_script NAME`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub name: String,
    /// What to check: {"type": "interface" | "tcp" | "http" | "exec" | "file", ...}.
    pub check: CheckConfig,
    /// Milliseconds between the starts of two checks, 100 to 3600000. Default 1000. A
    /// check still running when the next is due delays it (never two at once).
    /// keepalived: `interval` (in seconds).
    #[serde(default = "default_interval_ms")]
    #[schemars(range(min = 100, max = 3_600_000))]
    pub interval_ms: u32,
    /// Milliseconds a check may take, 10 to 3600000; a slower check counts as failed
    /// (an exec check's process group is killed). Default 1000. keepalived: `timeout`.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 10, max = 3_600_000))]
    pub timeout_ms: u32,
    /// Successes in a row needed to count as healthy again, 1 to 100. Default 1.
    /// keepalived: `rise`.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub rise: u32,
    /// Failures in a row needed to count as failed, 1 to 100. Default 1. keepalived:
    /// `fall`.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub fall: u32,
}

/// The kinds of check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = super::schema::describe_check_tag)]
pub enum CheckConfig {
    /// Healthy while a network interface (other than the instance's own, which always
    /// counts) is up. keepalived: `track_interface`.
    Interface {
        /// Interface name, e.g. "eth1". A missing interface counts as down.
        #[schemars(length(min = 1, max = 15))]
        interface: String,
    },
    /// Healthy when a TCP connection to `address` succeeds within the timeout.
    Tcp {
        /// IP address and port, e.g. "127.0.0.1:443" or "[2001:db8::1]:80" (no DNS).
        address: String,
    },
    /// Healthy when an HTTP/1.1 GET of `url` answers with an expected status within the
    /// timeout.
    Http {
        /// "http://IP[:port]/path" or "https://IP[:port]/path", e.g.
        /// "https://127.0.0.1:443/health". The host must be an IP address (no DNS); use
        /// `server_name` for the TLS SNI and Host header.
        url: String,
        /// Name sent as TLS SNI and HTTP Host header, and checked against the certificate
        /// when `verify_tls` is true, e.g. "www.example.org". Default: the URL's host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// Whether to verify the server's certificate (against the Mozilla roots built
        /// into vrrpd, for `server_name`). Default true. Set false for internal or
        /// self-signed certificates: the check then only proves the server answers.
        #[serde(default = "default_true")]
        verify_tls: bool,
        /// A PEM file of CA certificates to verify the server's certificate against,
        /// instead of the built-in Mozilla roots: a private CA, such as Caddy's
        /// `tls internal` root (/var/lib/caddy/.local/share/caddy/pki/authorities/local/
        /// root.crt) or a company CA. Read when the tracker starts (at start and at each
        /// reload that changes the trackers); if it cannot be read or holds no certificate,
        /// the tracker is not run, and the error is logged and shown in `vrrpd status`.
        /// Needs `verify_tls` true and an https:// URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1))]
        ca_file: Option<String>,
        /// Status codes that count as healthy, e.g. [200]. Default: any 2xx or 3xx.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1))]
        expected_status: Option<Vec<u16>>,
    },
    /// Healthy when a program exits with status 0 within the timeout (killed with its
    /// process group otherwise). keepalived: `vrrp_script { script ... }`.
    Exec {
        /// Program and arguments, run without a shell, e.g. ["/usr/bin/curl", "-fsS",
        /// "http://127.0.0.1/"]. With `shell: true`, the elements joined by spaces are
        /// run by /bin/sh -c.
        #[schemars(length(min = 1))]
        command: Vec<String>,
        /// Run `command` through /bin/sh -c. Default false.
        #[serde(default)]
        shell: bool,
        /// User to run as (name or numeric uid), with that user's primary group; only
        /// applied when vrrpd runs as root. Default: vrrpd's own user. keepalived:
        /// `user`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Healthy while at least `min_count` processes match, found in /proc: by `name` (the
    /// kernel's process name, /proc/PID/comm, at most 15 characters, e.g. "caddy"), by
    /// `argv_prefix` (the first arguments of the command line, e.g. ["/usr/bin/caddy",
    /// "run"]), or by both. keepalived: `vrrp_track_process`.
    Process {
        /// The process name exactly as /proc/PID/comm has it (the executable's name cut to
        /// 15 characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1, max = 15))]
        name: Option<String>,
        /// The command line's first arguments, each compared exactly (argv[0] as the
        /// process was started, often a full path).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1))]
        argv_prefix: Option<Vec<String>>,
        /// How many matching processes make it healthy, 1 to 65535. Default 1. keepalived:
        /// `quorum`.
        #[serde(default = "default_one")]
        #[schemars(range(min = 1, max = 65535))]
        min_count: u32,
    },
    /// Healthy while a systemd unit has running processes: its control group (under
    /// /sys/fs/cgroup: cgroup v2, a hybrid system's unified tree, or v1's name=systemd
    /// tree) is populated. Read from the kernel's cgroup.events, so no D-Bus
    /// call and no `systemctl` per check. A service starting or stopping still has
    /// processes and counts as running; a oneshot service without processes does not.
    SystemdUnit {
        /// The unit, e.g. "caddy.service" (a service or a scope).
        #[schemars(length(min = 1, max = 255))]
        unit: String,
    },
    /// The integer in a file, times the instance's weight, added to the priority.
    /// keepalived: `track_file`.
    File {
        /// Path of the file; it holds one integer (whitespace around it allowed). A missing
        /// or unreadable file, or one that does not hold an integer, reads as 0.
        path: String,
    },
}

impl CheckConfig {
    /// The kind as written in the config ("tcp", "http", ...), for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckConfig::Interface { .. } => "interface",
            CheckConfig::Tcp { .. } => "tcp",
            CheckConfig::Http { .. } => "http",
            CheckConfig::Exec { .. } => "exec",
            CheckConfig::File { .. } => "file",
            CheckConfig::Process { .. } => "process",
            CheckConfig::SystemdUnit { .. } => "systemd_unit",
        }
    }
}

/// An instance's use of a tracker (keepalived `track_script { NAME weight W }`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRef {
    /// The `name` of a tracker in the top-level `trackers` list.
    pub tracker: String,
    /// -254 to 254. Default 0. Weight 0: the instance goes to FAULT while the tracker
    /// fails. Negative: added to the priority while it fails. Positive: added while it is
    /// healthy. For a file tracker the file's integer is multiplied by the weight (0:
    /// any non-zero value means FAULT; a product of -254 or less means FAULT). The result
    /// is clamped to 1..254; an owner's 255 never changes. keepalived: `weight`.
    #[serde(default)]
    #[schemars(range(min = -254, max = 254))]
    pub weight: i32,
}

/// Programs run on state transitions (keepalived `notify_*`), one at a time, in order,
/// off the protocol loop. Each is given as a program and its arguments (no shell).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Run on entering MASTER, with no extra arguments. keepalived: `notify_master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub master: Option<Vec<String>>,
    /// Run on entering BACKUP. keepalived: `notify_backup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub backup: Option<Vec<String>>,
    /// Run on entering FAULT. keepalived: `notify_fault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub fault: Option<Vec<String>>,
    /// Run when the instance stops (shutdown or reload). keepalived: `notify_stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub stop: Option<Vec<String>>,
    /// Run on every transition, after the state's own program, with the arguments
    /// INSTANCE NAME STATE PRIORITY appended (STATE is MASTER, BACKUP, FAULT or STOP), as
    /// keepalived's `notify` script gets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub generic: Option<Vec<String>>,
    /// Run when the instance's effective priority (the configured one plus its trackers'
    /// weights) changes, with the arguments INSTANCE NAME STATE NEW_PRIORITY OLD_PRIORITY
    /// appended: the first four as keepalived's `notify` script gets them when
    /// `notify_priority_changes` is set. Not run for a demote or promote, which leave the
    /// effective priority as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub priority_change: Option<Vec<String>>,
    /// Seconds a program may run before it is killed with its process group, 1 to 3600.
    /// Default 30.
    #[serde(default = "default_notify_timeout_s")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_s: u32,
    /// User to run the programs as (name or numeric uid), with that user's primary group;
    /// only applied when vrrpd runs as root. Default: vrrpd's own user. Either way a
    /// program gets no capabilities (see keep_privileges). keepalived: the USER of
    /// `notify_* "COMMAND" USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub user: Option<String>,
    /// Run the programs with vrrpd's own uid and capabilities (under the shipped unit
    /// CAP_NET_ADMIN and CAP_NET_RAW; as root, root), for scripts that change addresses or
    /// routes themselves the way keepalived's root scripts do. Default false: no
    /// capability in any set and no_new_privs. vrrpd warns at start and at every reload
    /// while it is on. Cannot be combined with user.
    // Left out of a written config while false (the importer's output stays as before),
    // so the schema's `default` is stated here.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(extend("default" = false))]
    pub keep_privileges: bool,
}

impl Default for NotifyConfig {
    /// No programs, the default timeout.
    fn default() -> Self {
        NotifyConfig {
            master: None,
            backup: None,
            fault: None,
            stop: None,
            generic: None,
            priority_change: None,
            timeout_s: default_notify_timeout_s(),
            user: None,
            keep_privileges: false,
        }
    }
}

impl super::Config {
    /// The instances whose notify hooks run with vrrpd's own privileges
    /// (`keep_privileges`), which the daemon warns about at every load.
    pub fn instances_whose_hooks_keep_privileges(&self) -> Vec<&str> {
        self.instances
            .iter()
            .filter(|instance| {
                instance
                    .notify
                    .as_ref()
                    .is_some_and(|notify| notify.keep_privileges)
            })
            .map(|instance| instance.name.as_str())
            .collect()
    }
}

/// Parse a TCP tracker's address.
pub fn parse_socket_address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not IP:port (e.g. \"127.0.0.1:443\", \"[::1]:80\")"))
}

/// A parsed `http` / `https` URL with an IP host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub tls: bool,
    pub address: SocketAddr,
    /// The host as written (without port), for the Host header and SNI default.
    pub host: String,
    /// Path and query, at least "/".
    pub path: String,
}

/// Parse an HTTP tracker's URL: scheme, IP host, optional port, path.
pub fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(format!("{url:?}: user information is not supported"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(format!("{url:?}: unexpected {after:?} after the host")),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let ip: std::net::IpAddr = host.parse().map_err(|_| {
        format!("{url:?}: the host must be an IP address (vrrpd does no DNS); set server_name for SNI and Host")
    })?;
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("{url:?}: {port:?} is not a port number"))?,
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?}: the path must not contain spaces"));
    }
    Ok(HttpTarget {
        tls,
        address: SocketAddr::new(ip, port),
        host: host.to_owned(),
        path: path.to_owned(),
    })
}

/// Cross-field rules of the health settings: unique tracker names, `track` entries that
/// name a tracker, parsable targets and listen address, a hook `user` not combined with
/// `keep_privileges`.
pub(super) fn check(config: &super::Config) -> Vec<super::ConfigProblem> {
    let mut problems = Vec::new();
    let mut report =
        |pointer: String, message: String| problems.push(super::ConfigProblem { pointer, message });
    for (index, tracker) in config.trackers.iter().enumerate() {
        let at = |key: &str| format!("/trackers/{index}/{key}");
        if let Some(first) = config.trackers[..index]
            .iter()
            .position(|other| other.name == tracker.name)
        {
            report(
                at("name"),
                format!(
                    "the name {:?} is already used by /trackers/{first}",
                    tracker.name
                ),
            );
        }
        match &tracker.check {
            CheckConfig::Tcp { address } => {
                if let Err(message) = parse_socket_address(address) {
                    report(at("check/address"), message);
                }
            }
            CheckConfig::Http {
                url,
                expected_status,
                verify_tls,
                ca_file,
                ..
            } => {
                if let Err(message) = parse_http_url(url) {
                    report(at("check/url"), message);
                }
                if ca_file.is_some() && !verify_tls {
                    report(
                        at("check/ca_file"),
                        "a CA file is only used to verify the certificate, and verify_tls is \
                         false: set verify_tls to true or remove ca_file"
                            .to_owned(),
                    );
                }
                if ca_file.is_some() && parse_http_url(url).is_ok_and(|target| !target.tls) {
                    report(
                        at("check/ca_file"),
                        format!("{url:?} is plain HTTP: a CA file needs an https:// URL"),
                    );
                }
                if let Some(codes) = expected_status
                    && let Some(code) = codes.iter().find(|code| !(100..=599).contains(*code))
                {
                    report(
                        at("check/expected_status"),
                        format!("{code} is not an HTTP status code (100 to 599)"),
                    );
                }
            }
            CheckConfig::Exec { command, .. } => {
                if command.first().is_some_and(|program| program.is_empty()) {
                    report(at("check/command"), "the program name is empty".to_owned());
                }
            }
            CheckConfig::Process {
                name, argv_prefix, ..
            } => {
                if name.is_none() && argv_prefix.is_none() {
                    report(
                        at("check"),
                        "a process check needs `name`, `argv_prefix` or both".to_owned(),
                    );
                }
            }
            CheckConfig::SystemdUnit { unit } => {
                let named_well = (unit.ends_with(".service") || unit.ends_with(".scope"))
                    && !unit.contains('/')
                    && !unit.starts_with('.');
                if !named_well {
                    report(
                        at("check/unit"),
                        format!(
                            "{unit:?} is not a service or scope unit name (such as \
                             \"caddy.service\"): only those have processes to check"
                        ),
                    );
                }
            }
            CheckConfig::Interface { .. } | CheckConfig::File { .. } => {}
        }
    }
    for (index, instance) in config.instances.iter().enumerate() {
        if let Some(notify) = &instance.notify
            && notify.keep_privileges
            && let Some(user) = &notify.user
        {
            report(
                format!("/instances/{index}/notify/keep_privileges"),
                format!(
                    "keep_privileges runs the programs as vrrpd itself, user {user:?} as \
                     someone else: set one of them"
                ),
            );
        }
        for (position, track) in instance.track.iter().enumerate() {
            if !config.trackers.iter().any(|t| t.name == track.tracker) {
                report(
                    format!("/instances/{index}/track/{position}/tracker"),
                    format!(
                        "no tracker is named {:?}; declare it in the top-level \"trackers\"",
                        track.tracker
                    ),
                );
            }
        }
        let own_interface = config.trackers.iter().find(|t| {
            matches!(&t.check, CheckConfig::Interface { interface } if *interface == instance.interface)
                && instance.track.iter().any(|track| track.tracker == t.name)
        });
        if let Some(tracker) = own_interface {
            report(
                format!("/instances/{index}/track"),
                format!(
                    "tracker {:?} watches {}, the instance's own interface, which is always \
                     followed (FAULT while it is down)",
                    tracker.name, instance.interface
                ),
            );
        }
    }
    if let Some(listen) = &config.metrics_listen
        && listen.parse::<SocketAddr>().is_err()
    {
        report(
            "/metrics_listen".to_owned(),
            format!("{listen:?} is not IP:port (e.g. \"127.0.0.1:9650\")"),
        );
    }
    problems
}

fn default_interval_ms() -> u32 {
    1000
}
fn default_timeout_ms() -> u32 {
    1000
}
fn default_one() -> u32 {
    1
}
fn default_true() -> bool {
    true
}
fn default_notify_timeout_s() -> u32 {
    30
}
fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_paths() {
        let target = parse_http_url("https://127.0.0.1/").unwrap();
        assert!(target.tls);
        assert_eq!(target.address, "127.0.0.1:443".parse().unwrap());
        assert_eq!(target.path, "/");
        let target = parse_http_url("http://[2001:db8::1]:8080/health?x=1").unwrap();
        assert!(!target.tls);
        assert_eq!(target.address, "[2001:db8::1]:8080".parse().unwrap());
        assert_eq!(target.host, "2001:db8::1");
        assert_eq!(target.path, "/health?x=1");
        assert_eq!(
            parse_http_url("http://192.0.2.1").unwrap().path,
            "/",
            "no path means /"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for url in [
            "ftp://192.0.2.1/",
            "http://example.org/",
            "http://192.0.2.1:0/",
            "http://192.0.2.1:99999/",
            "http://user@192.0.2.1/",
            "http://[2001:db8::1/",
            "http://192.0.2.1/a b",
        ] {
            assert!(parse_http_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn tcp_addresses_need_a_port() {
        assert!(parse_socket_address("127.0.0.1:443").is_ok());
        assert!(parse_socket_address("127.0.0.1").is_err());
        assert!(parse_socket_address("[::1]:80").is_ok());
    }
}
