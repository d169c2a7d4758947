//! The health checks behind trackers: interface, TCP, HTTP(S), exec and file.
//!
//! Each tracker runs in its own tokio task ([`spawn_tracker`]) and sends every result to
//! the event loop, which does the rise/fall counting and the priority arithmetic
//! (`core::track`). A check is always bounded by its timeout, so a hung check delays only
//! its own next run, never an advertisement. An exec check runs in its own process group,
//! killed as a whole at the timeout, so that a shell's children do not outlive it, and
//! without any of vrrpd's capabilities or environment ([`crate::driver::child`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{CheckConfig, HttpTarget, TrackerConfig, parse_http_url, parse_socket_address};
use crate::driver::child::{ChildPrivileges, RunAs, RunFailure, resolve_user, run_bounded};
use crate::driver::netlink::Netlink;

/// Longest HTTP status line we read; a longer one is not HTTP.
const MAX_STATUS_LINE: usize = 8192;

/// Why a tracker cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum CheckSetupError {
    #[error("tracker {tracker}: {message}")]
    Invalid { tracker: String, message: String },
    #[error("tracker {tracker}: no user named {user:?}")]
    UnknownUser { tracker: String, user: String },
    #[error("tracker {tracker}: CA file {path}: {message}")]
    CaFile {
        tracker: String,
        path: String,
        message: String,
    },
    #[error("tracker {tracker}: cannot set up TLS: {source}")]
    Tls {
        tracker: String,
        #[source]
        source: rustls::Error,
    },
    #[error("tracker {tracker}: cannot open netlink: {source}")]
    Netlink {
        tracker: String,
        #[source]
        source: crate::driver::netlink::NetlinkError,
    },
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    pub healthy: bool,
    /// A file tracker's integer.
    pub value: Option<i64>,
    /// What was found, for status and logs ("HTTP 200", "timed out after 1s", ...).
    pub detail: String,
}

impl CheckOutcome {
    fn up(detail: impl Into<String>) -> Self {
        CheckOutcome {
            healthy: true,
            value: None,
            detail: detail.into(),
        }
    }
    fn down(detail: impl Into<String>) -> Self {
        CheckOutcome {
            healthy: false,
            value: None,
            detail: detail.into(),
        }
    }
}

/// A result on its way to the event loop; `tracker` indexes the config's `trackers`.
#[derive(Debug)]
pub struct TrackerReport {
    pub tracker: usize,
    pub generation: u64,
    pub outcome: CheckOutcome,
}

/// A ready-to-run check.
enum Probe {
    Interface {
        name: String,
        netlink: Netlink,
    },
    Tcp(SocketAddr),
    Http {
        target: HttpTarget,
        server_name: String,
        tls: Option<Arc<ClientConfig>>,
        expected_status: Option<Vec<u16>>,
    },
    Exec {
        argv: Vec<String>,
        run_as: Option<RunAs>,
        /// The child's environment besides PATH: VRRPD_TRACKER.
        env: Vec<(String, String)>,
    },
    File(PathBuf),
    Process(ProcessMatch),
    SystemdUnit(String),
}

/// Where systemd's own cgroup tree is mounted, in the order tried: the unified hierarchy
/// (cgroup v2), its copy beside the v1 controllers on a "hybrid" system, and the v1
/// `name=systemd` hierarchy of a legacy one (as systemd-nspawn gives a container on such
/// a host).
const CGROUP_ROOTS: [&str; 3] = [
    "/sys/fs/cgroup",
    "/sys/fs/cgroup/unified",
    "/sys/fs/cgroup/systemd",
];
/// How deep slices nest at most when looking for a unit's cgroup (system.slice is 1).
const MAX_SLICE_DEPTH: usize = 8;

/// Whether `unit` has running processes in the cgroup tree at `root`: its control group,
/// found in a slice (system.slice first, where services run unless they set Slice=), is
/// populated: `populated 1` in cgroup.events (v2), or a process in cgroup.procs of it or
/// of a group below it (v1). Ok(None) when no cgroup of that name exists (the unit is not
/// running); Err when the tree cannot be read.
fn unit_populated(root: &Path, unit: &str) -> Result<Option<bool>, String> {
    let v2 = root.join("cgroup.controllers").exists();
    if !v2 && !root.join("cgroup.procs").exists() {
        return Err(format!(
            "no cgroup tree at {}: a systemd_unit check needs systemd's cgroups",
            root.display()
        ));
    }
    let mut slices = vec![root.join("system.slice"), root.to_path_buf()];
    let mut depth = 0;
    let mut seen = std::collections::HashSet::new();
    while !slices.is_empty() && depth <= MAX_SLICE_DEPTH {
        let mut deeper = Vec::new();
        for slice in slices {
            if !seen.insert(slice.clone()) {
                continue;
            }
            let candidate = slice.join(unit);
            if candidate.is_dir() {
                return if v2 {
                    let events = std::fs::read_to_string(candidate.join("cgroup.events")).map_err(
                        |error| format!("{}/cgroup.events: {error}", candidate.display()),
                    )?;
                    Ok(Some(
                        events.lines().any(|line| line.trim() == "populated 1"),
                    ))
                } else {
                    Ok(Some(has_processes_v1(&candidate, MAX_SLICE_DEPTH)))
                };
            }
            let Ok(entries) = std::fs::read_dir(&slice) else {
                continue;
            };
            deeper.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_name().to_string_lossy().ends_with(".slice"))
                    .map(|entry| entry.path()),
            );
        }
        slices = deeper;
        depth += 1;
    }
    Ok(None)
}

/// A v1 cgroup has a process when its cgroup.procs, or that of a group below it (at most
/// `depth` levels), lists one.
fn has_processes_v1(group: &Path, depth: usize) -> bool {
    let listed = std::fs::read_to_string(group.join("cgroup.procs"))
        .is_ok_and(|procs| procs.lines().any(|line| !line.trim().is_empty()));
    listed
        || (depth > 0
            && std::fs::read_dir(group).is_ok_and(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.path().is_dir())
                    .any(|entry| has_processes_v1(&entry.path(), depth - 1))
            }))
}

/// Whether the /proc this process sees is mounted with `hidepid` (systemd's
/// ProtectProc=invisible or noaccess): then processes of other users are not visible, and
/// a process check for them can only fail.
fn proc_hides_other_users() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|mounts| {
        mounts
            .lines()
            .filter(|line| line.split(' ').nth(4) == Some("/proc"))
            .any(hides_pids)
    })
}

/// Whether one mountinfo line has a hidepid option other than 0/off.
fn hides_pids(mountinfo_line: &str) -> bool {
    mountinfo_line
        .split([' ', ','])
        .filter_map(|option| option.strip_prefix("hidepid="))
        .any(|value| value != "0" && value != "off")
}

/// What a process check looks for (see `CheckConfig::Process`).
#[derive(Clone, Debug)]
struct ProcessMatch {
    name: Option<String>,
    argv_prefix: Option<Vec<String>>,
    min_count: u32,
}

impl ProcessMatch {
    /// Whether the process with this comm and NUL-separated command line matches.
    fn matches(&self, comm: &str, cmdline: &[u8]) -> bool {
        if self.name.as_deref().is_some_and(|name| name != comm) {
            return false;
        }
        match &self.argv_prefix {
            None => true,
            Some(prefix) => {
                let mut argv = cmdline
                    .split(|byte| *byte == 0)
                    .filter(|arg| !arg.is_empty());
                prefix
                    .iter()
                    .all(|wanted| argv.next() == Some(wanted.as_bytes()))
            }
        }
    }

    /// Count the matching processes in `proc_root` (/proc). A process that exits while it
    /// is read is skipped; vrrpd itself is never counted. Processes the mount hides (with
    /// `hidepid`, systemd's ProtectProc=) are not seen at all.
    fn count(&self, proc_root: &Path) -> std::io::Result<u32> {
        let own = std::process::id().to_string();
        let mut count = 0u32;
        for entry in std::fs::read_dir(proc_root)? {
            let Ok(entry) = entry else { continue };
            let file_name = entry.file_name();
            let Some(pid) = file_name.to_str() else {
                continue;
            };
            if !pid.bytes().all(|byte| byte.is_ascii_digit()) || pid == own {
                continue;
            }
            let dir = entry.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            let cmdline = if self.argv_prefix.is_some() {
                match std::fs::read(dir.join("cmdline")) {
                    Ok(cmdline) => cmdline,
                    Err(_) => continue,
                }
            } else {
                Vec::new()
            };
            if self.matches(comm.trim_end_matches('\n'), &cmdline) {
                count = count.saturating_add(1);
            }
        }
        Ok(count)
    }
}

impl Probe {
    fn build(config: &TrackerConfig) -> Result<Probe, CheckSetupError> {
        let invalid = |message: String| CheckSetupError::Invalid {
            tracker: config.name.clone(),
            message,
        };
        Ok(match &config.check {
            CheckConfig::Interface { interface } => Probe::Interface {
                name: interface.clone(),
                netlink: Netlink::connect().map_err(|source| CheckSetupError::Netlink {
                    tracker: config.name.clone(),
                    source,
                })?,
            },
            CheckConfig::Tcp { address } => {
                Probe::Tcp(parse_socket_address(address).map_err(invalid)?)
            }
            CheckConfig::Http {
                url,
                server_name,
                verify_tls,
                ca_file,
                expected_status,
            } => {
                let target = parse_http_url(url).map_err(invalid)?;
                let server_name = server_name.clone().unwrap_or_else(|| target.host.clone());
                let tls = if target.tls {
                    let roots =
                        match ca_file {
                            Some(path) => Some(read_ca_file(path).map_err(|message| {
                                CheckSetupError::CaFile {
                                    tracker: config.name.clone(),
                                    path: path.clone(),
                                    message,
                                }
                            })?),
                            None => None,
                        };
                    Some(
                        tls_config(*verify_tls, roots).map_err(|source| CheckSetupError::Tls {
                            tracker: config.name.clone(),
                            source,
                        })?,
                    )
                } else {
                    None
                };
                Probe::Http {
                    target,
                    server_name,
                    tls,
                    expected_status: expected_status.clone(),
                }
            }
            CheckConfig::Exec {
                command,
                shell,
                user,
            } => {
                let argv = if *shell {
                    vec!["/bin/sh".to_owned(), "-c".to_owned(), command.join(" ")]
                } else {
                    command.clone()
                };
                if argv.first().is_none_or(|program| program.is_empty()) {
                    return Err(invalid("the command is empty".to_owned()));
                }
                let run_as = match user {
                    Some(user) => {
                        let run_as =
                            resolve_user(user).map_err(|_| CheckSetupError::UnknownUser {
                                tracker: config.name.clone(),
                                user: user.clone(),
                            })?;
                        if run_as.is_none() {
                            tracing::warn!(
                                "tracker {}: not running as root: the check runs as vrrpd's own \
                                 user, not {user}",
                                config.name
                            );
                        }
                        run_as
                    }
                    None => None,
                };
                let env = vec![("VRRPD_TRACKER".to_owned(), config.name.clone())];
                Probe::Exec { argv, run_as, env }
            }
            CheckConfig::File { path } => Probe::File(PathBuf::from(path)),
            CheckConfig::SystemdUnit { unit } => Probe::SystemdUnit(unit.clone()),
            CheckConfig::Process {
                name,
                argv_prefix,
                min_count,
            } => Probe::Process(ProcessMatch {
                name: name.clone(),
                argv_prefix: argv_prefix.clone(),
                min_count: *min_count,
            }),
        })
    }

    async fn run(&self, timeout: Duration) -> CheckOutcome {
        match self {
            Probe::Exec { argv, run_as, env } => run_exec(argv, *run_as, env, timeout).await,
            _ => match tokio::time::timeout(timeout, self.run_unbounded()).await {
                Ok(outcome) => outcome,
                Err(_) => CheckOutcome::down(format!("timed out after {}", seconds(timeout))),
            },
        }
    }

    /// The checks whose cancellation at the timeout is enough (dropping the future closes
    /// the socket).
    async fn run_unbounded(&self) -> CheckOutcome {
        match self {
            Probe::Interface { name, netlink } => match netlink.link_by_name(name).await {
                Ok(link) if link.up => CheckOutcome::up(format!("{name} is up")),
                Ok(_) => CheckOutcome::down(format!("{name} is down")),
                Err(error) => CheckOutcome::down(error.to_string()),
            },
            Probe::Tcp(address) => match TcpStream::connect(address).await {
                Ok(_) => CheckOutcome::up(format!("connected to {address}")),
                Err(error) => CheckOutcome::down(format!("{address}: {error}")),
            },
            Probe::Http {
                target,
                server_name,
                tls,
                expected_status,
            } => match http_status(target, server_name, tls.as_ref()).await {
                Ok(status) if status_expected(status, expected_status.as_deref()) => {
                    CheckOutcome::up(format!("HTTP {status}"))
                }
                Ok(status) => CheckOutcome::down(format!("HTTP {status} is not expected")),
                Err(error) => CheckOutcome::down(error),
            },
            Probe::File(path) => {
                let path = path.clone();
                let read =
                    tokio::task::spawn_blocking(move || std::fs::read_to_string(&path)).await;
                let (value, detail) = match read {
                    Ok(Ok(text)) => match parse_file_value(&text) {
                        Some(value) => (value, format!("read {value}")),
                        None => (0, "not an integer: counts as 0".to_owned()),
                    },
                    Ok(Err(error)) => (0, format!("{error}: counts as 0")),
                    Err(error) => (0, format!("{error}: counts as 0")),
                };
                CheckOutcome {
                    healthy: true,
                    value: Some(value),
                    detail,
                }
            }
            Probe::Process(wanted) => {
                let wanted = wanted.clone();
                let min_count = wanted.min_count;
                let counted =
                    tokio::task::spawn_blocking(move || wanted.count(Path::new("/proc"))).await;
                match counted {
                    Ok(Ok(count)) => {
                        let mut detail =
                            format!("{count} matching processes (at least {min_count} needed)");
                        if count < min_count && proc_hides_other_users() {
                            detail.push_str(
                                "; /proc hides other users' processes here (hidepid: the \
                                 unit's ProtectProc=invisible): set ProtectProc=default",
                            );
                        }
                        CheckOutcome {
                            healthy: count >= min_count,
                            value: None,
                            detail,
                        }
                    }
                    Ok(Err(error)) => CheckOutcome::down(format!("cannot read /proc: {error}")),
                    Err(error) => CheckOutcome::down(format!("process scan failed: {error}")),
                }
            }
            Probe::SystemdUnit(unit) => {
                let unit = unit.clone();
                let looked = tokio::task::spawn_blocking(move || {
                    let root = CGROUP_ROOTS
                        .iter()
                        .map(Path::new)
                        .find(|root| root.join("cgroup.controllers").exists())
                        .or_else(|| {
                            Some(Path::new(CGROUP_ROOTS[2]))
                                .filter(|root| root.join("cgroup.procs").exists())
                        })
                        .unwrap_or(Path::new(CGROUP_ROOTS[0]));
                    let found = unit_populated(root, &unit);
                    (unit, found)
                })
                .await;
                match looked {
                    Ok((unit, Ok(Some(true)))) => CheckOutcome {
                        healthy: true,
                        value: None,
                        detail: format!("{unit} is running"),
                    },
                    Ok((unit, Ok(Some(false)))) => {
                        CheckOutcome::down(format!("{unit} has no running process"))
                    }
                    Ok((unit, Ok(None))) => {
                        CheckOutcome::down(format!("{unit} is not running (no control group)"))
                    }
                    Ok((_, Err(error))) => CheckOutcome::down(error),
                    Err(error) => CheckOutcome::down(format!("unit lookup failed: {error}")),
                }
            }
            // Bounded by run_exec itself.
            Probe::Exec { .. } => CheckOutcome::down("internal: exec checks run via run_exec"),
        }
    }
}

/// Start the task that runs tracker `index` every `interval_ms` and reports to `reports`.
pub fn spawn_tracker(
    index: usize,
    generation: u64,
    config: &TrackerConfig,
    reports: mpsc::Sender<TrackerReport>,
) -> Result<JoinHandle<()>, CheckSetupError> {
    let probe = Probe::build(config)?;
    let interval = Duration::from_millis(u64::from(config.interval_ms.max(1)));
    let timeout = Duration::from_millis(u64::from(config.timeout_ms.max(1)));
    Ok(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        // A check slower than the interval delays the next one instead of piling up.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let outcome = probe.run(timeout).await;
            let report = TrackerReport {
                tracker: index,
                generation,
                outcome,
            };
            if reports.send(report).await.is_err() {
                return; // The loop is gone.
            }
        }
    }))
}

/// "1s", "1.5s", "250ms".
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// A file tracker's integer: one optionally signed decimal, whitespace around it allowed.
pub fn parse_file_value(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// Default expectation: any 2xx or 3xx (a redirect proves the server is alive too).
pub fn status_expected(status: u16, expected: Option<&[u16]>) -> bool {
    match expected {
        Some(codes) => codes.contains(&status),
        None => (200..400).contains(&status),
    }
}

/// The status code of an HTTP/1.x status line ("HTTP/1.1 200 OK").
pub fn parse_status_line(line: &str) -> Result<u16, String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {:?}", truncate(line)));
    }
    match code.parse::<u16>() {
        Ok(code) if code.to_string().len() == 3 && (100..=599).contains(&code) => Ok(code),
        _ => Err(format!("bad status line: {:?}", truncate(line))),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The request: HTTP/1.1 GET with Host, closing the connection.
pub fn http_request(target: &HttpTarget, server_name: &str) -> String {
    let default_port = if target.tls { 443 } else { 80 };
    let host = if server_name.contains(':') {
        format!("[{server_name}]") // An IPv6 literal.
    } else {
        server_name.to_owned()
    };
    let host = if target.address.port() == default_port {
        host
    } else {
        format!("{host}:{}", target.address.port())
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vrrpd-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path
    )
}

async fn http_status(
    target: &HttpTarget,
    server_name: &str,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<u16, String> {
    let tcp = TcpStream::connect(target.address)
        .await
        .map_err(|error| format!("{}: {error}", target.address))?;
    let request = http_request(target, server_name);
    match tls {
        None => exchange(tcp, &request).await,
        Some(config) => {
            let name = ServerName::try_from(server_name.to_owned())
                .map_err(|_| format!("{server_name:?} is not a valid TLS server name"))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name, tcp)
                .await
                .map_err(|error| format!("TLS: {error}"))?;
            exchange(stream, &request).await
        }
    }
}

/// Send the request and read the status line.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| format!("sending the request: {error}"))?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        if let Some(end) = received.windows(2).position(|pair| pair == b"\r\n") {
            let line = String::from_utf8_lossy(&received[..end]);
            return parse_status_line(&line);
        }
        if received.len() > MAX_STATUS_LINE {
            return Err("status line too long".to_owned());
        }
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|error| format!("reading the response: {error}"))?;
        if read == 0 {
            return Err("connection closed before a status line".to_owned());
        }
        received.extend_from_slice(&buffer[..read]);
    }
}

fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA certificates of a PEM file (`ca_file`): every CERTIFICATE block, at least one.
fn read_ca_file(path: &str) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for (position, certificate) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let certificate = certificate
            .map_err(|error| format!("certificate {}: not valid PEM: {error}", position + 1))?;
        roots
            .add(certificate)
            .map_err(|error| format!("certificate {}: {error}", position + 1))?;
    }
    if roots.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(roots)
}

/// A TLS client config: verification against `roots` (a `ca_file`) or webpki-roots
/// (Mozilla's roots, built in, no system dependency), or none at all.
fn tls_config(
    verify: bool,
    roots: Option<rustls::RootCertStore>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = ring_provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let config = if verify {
        let roots = roots.unwrap_or_else(|| rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `verify_tls: false`: any certificate is accepted (the check proves only that the server
/// answers). Handshake signatures are still checked, which costs nothing and keeps the
/// handshake honest.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Spawn `argv` in a new process group (as `run_as` if given, without capabilities, with
/// `env` and PATH only), wait at most `timeout`, kill the whole group on expiry. Exit
/// status 0 is healthy.
async fn run_exec(
    argv: &[String],
    run_as: Option<RunAs>,
    env: &[(String, String)],
    timeout: Duration,
) -> CheckOutcome {
    let privileges = ChildPrivileges::Dropped { run_as };
    match run_bounded(argv, privileges, env, timeout, std::process::Stdio::null()).await {
        Ok(status) if status.success() => CheckOutcome::up("exit 0"),
        Ok(status) => CheckOutcome::down(describe_exit(status)),
        Err(RunFailure::TimedOut) => CheckOutcome::down(format!(
            "timed out after {}: process group killed",
            seconds(timeout)
        )),
        Err(RunFailure::Spawn(error)) => {
            CheckOutcome::down(format!("cannot run {}: {error}", argv[0]))
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Ok(503)
        );
        assert_eq!(parse_status_line("HTTP/1.1 204"), Ok(204));
        assert!(parse_status_line("SSH-2.0-OpenSSH").is_err());
        assert!(parse_status_line("HTTP/1.1 2000 OK").is_err());
        assert!(parse_status_line("HTTP/1.1 099 X").is_err());
        assert!(parse_status_line("HTTP/1.1 abc").is_err());
    }

    #[test]
    fn default_expectation_is_2xx_or_3xx() {
        assert!(status_expected(200, None));
        assert!(status_expected(308, None));
        assert!(!status_expected(404, None));
        assert!(!status_expected(199, None));
        assert!(status_expected(404, Some(&[404])));
        assert!(!status_expected(200, Some(&[204])));
    }

    #[test]
    fn file_values() {
        assert_eq!(parse_file_value(" 42\n"), Some(42));
        assert_eq!(parse_file_value("-3"), Some(-3));
        assert_eq!(parse_file_value("x"), None);
        assert_eq!(parse_file_value(""), None);
    }

    #[test]
    fn request_names_the_host_and_closes() {
        let target = parse_http_url("https://127.0.0.1/health").unwrap();
        let request = http_request(&target, "www.example.org");
        assert!(request.starts_with("GET /health HTTP/1.1\r\nHost: www.example.org\r\n"));
        assert!(request.ends_with("Connection: close\r\n\r\n"));
        let target = parse_http_url("http://[::1]:8080/").unwrap();
        assert!(http_request(&target, "::1").contains("Host: [::1]:8080\r\n"));
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exec_checks_report_exit_status_and_get_killed_at_the_timeout() {
        rt().block_on(async {
            let ok = run_exec(&["true".to_owned()], None, &[], Duration::from_secs(5)).await;
            assert!(ok.healthy, "{ok:?}");
            let failed = run_exec(&["false".to_owned()], None, &[], Duration::from_secs(5)).await;
            assert_eq!(failed.detail, "exit 1");
            // A shell whose child sleeps: both must die at the timeout.
            let marker = std::env::temp_dir().join(format!("vrrpd-exec-{}", std::process::id()));
            let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
            let started = std::time::Instant::now();
            let hung = run_exec(
                &["/bin/sh".to_owned(), "-c".to_owned(), script],
                None,
                &[],
                Duration::from_millis(300),
            )
            .await;
            assert!(started.elapsed() < Duration::from_secs(3));
            assert!(!hung.healthy);
            assert!(hung.detail.contains("timed out"), "{hung:?}");
            let grandchild: i32 = std::fs::read_to_string(&marker)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let _ = std::fs::remove_file(&marker);
            // Reaped by init at some point; kill(pid, 0) fails once it is gone.
            let gone = (0..50).any(|_| {
                std::thread::sleep(Duration::from_millis(20));
                let alive =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), None).is_ok();
                let zombie = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                    .map(|stat| stat.contains(") Z "))
                    .unwrap_or(true);
                !alive || zombie
            });
            assert!(gone, "the check's child {grandchild} survived the timeout");
        });
    }

    /// An exec check runs through the shared spawn path: no capabilities, no_new_privs,
    /// and an environment of PATH and VRRPD_TRACKER only.
    #[test]
    fn exec_checks_get_no_capabilities_and_only_path_and_their_tracker_name() {
        use crate::driver::child::observed::Dump;
        let dump = Dump::new("check");
        let config = TrackerConfig {
            name: "caddy".to_owned(),
            check: CheckConfig::Exec {
                command: dump.argv(),
                shell: false,
                user: None,
            },
            interval_ms: 1000,
            timeout_ms: 5000,
            rise: 1,
            fall: 1,
        };
        let outcome = rt().block_on(async {
            Probe::build(&config)
                .unwrap()
                .run(Duration::from_secs(5))
                .await
        });
        assert!(outcome.healthy, "{outcome:?}");
        dump.status().assert_unprivileged();
        let keys: Vec<String> = dump.environment().into_keys().collect();
        assert_eq!(keys, ["PATH", "VRRPD_TRACKER"]);
        assert_eq!(dump.environment()["VRRPD_TRACKER"], "caddy");
    }

    /// `user` switches uid and gid when vrrpd is root, and is documented to be ignored
    /// without root (the Nix build sandbox): the check then runs as vrrpd's own user. One
    /// test that asserts what applies where it runs, never returning early: as root (CI) it
    /// checks the switch, and the unprivileged case too by running itself again as
    /// `nobody`; without root it checks the unprivileged case.
    #[test]
    fn exec_checks_switch_user_as_root_and_run_as_vrrpd_itself_otherwise() {
        if nix::unistd::geteuid().is_root() {
            exec_checks_run_as_the_configured_user();
            exec_checks_run_as_vrrpd_itself_when_not_root_in_a_child();
        } else {
            exec_checks_run_as_vrrpd_itself_when_not_root();
        }
    }

    /// Without root, `user` is ignored: the check runs as vrrpd's own user.
    fn exec_checks_run_as_vrrpd_itself_when_not_root() {
        let me = nix::unistd::geteuid();
        assert!(!me.is_root());
        let config = TrackerConfig {
            name: "as-me".to_owned(),
            check: CheckConfig::Exec {
                command: vec![format!("[ \"$(id -u)\" = {me} ]")],
                shell: true,
                user: Some("nobody".to_owned()),
            },
            interval_ms: 1000,
            timeout_ms: 1000,
            rise: 1,
            fall: 1,
        };
        rt().block_on(async {
            let outcome = Probe::build(&config)
                .unwrap()
                .run(Duration::from_secs(5))
                .await;
            assert!(outcome.healthy, "{outcome:?}");
        });
    }

    /// As root, runs this test binary again as `nobody`, filtered to the test above, which
    /// then takes its unprivileged branch; "1 passed" shows the filter matched it.
    fn exec_checks_run_as_vrrpd_itself_when_not_root_in_a_child() {
        use std::os::unix::process::CommandExt as _;
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let module = module_path!();
        let module = module.split_once("::").map_or(module, |(_, rest)| rest);
        let name =
            format!("{module}::exec_checks_switch_user_as_root_and_run_as_vrrpd_itself_otherwise");
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1"])
            .uid(nobody.uid.as_raw())
            .gid(nobody.gid.as_raw())
            .current_dir("/")
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && said.contains("1 passed"),
            "the unprivileged case, run as nobody: {}\n{said}",
            output.status
        );
    }

    /// `user` switches uid and gid when vrrpd is root.
    fn exec_checks_run_as_the_configured_user() {
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let script = format!(
            "[ \"$(id -u)\" = {} ] && [ \"$(id -g)\" = {} ] && [ \"$(id -G)\" = {} ]",
            nobody.uid, nobody.gid, nobody.gid
        );
        let config = |user: Option<&str>| TrackerConfig {
            name: "as-nobody".to_owned(),
            check: CheckConfig::Exec {
                command: vec![script.clone()],
                shell: true,
                user: user.map(str::to_owned),
            },
            interval_ms: 1000,
            timeout_ms: 1000,
            rise: 1,
            fall: 1,
        };
        rt().block_on(async {
            let switched = Probe::build(&config(Some("nobody")))
                .unwrap()
                .run(Duration::from_secs(5))
                .await;
            assert!(switched.healthy, "{switched:?}");
            let as_root = Probe::build(&config(None))
                .unwrap()
                .run(Duration::from_secs(5))
                .await;
            assert!(!as_root.healthy, "the script must tell the users apart");
        });
        assert!(matches!(
            Probe::build(&config(Some("no-such-user-vrrpd"))),
            Err(CheckSetupError::UnknownUser { .. })
        ));
    }

    #[test]
    fn tcp_and_http_checks_against_a_local_server() {
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let mut buffer = [0u8; 1024];
                    let read = stream.read(&mut buffer).await.unwrap();
                    let request = String::from_utf8_lossy(&buffer[..read]).to_string();
                    let status = if request.starts_with("GET /ok ") {
                        "200 OK"
                    } else {
                        "503 Busy"
                    };
                    let _ = stream
                        .write_all(
                            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                        )
                        .await;
                }
            });
            let tcp = Probe::Tcp(address).run(Duration::from_secs(2)).await;
            assert!(tcp.healthy, "{tcp:?}");
            let http = |path: &str| {
                let config = TrackerConfig {
                    name: "web".to_owned(),
                    check: CheckConfig::Http {
                        url: format!("http://{address}{path}"),
                        server_name: Some("www.example.org".to_owned()),
                        verify_tls: true,
                        ca_file: None,
                        expected_status: None,
                    },
                    interval_ms: 1000,
                    timeout_ms: 1000,
                    rise: 1,
                    fall: 1,
                };
                Probe::build(&config).unwrap()
            };
            let up = http("/ok").run(Duration::from_secs(2)).await;
            assert_eq!(up.detail, "HTTP 200");
            let down = http("/busy").run(Duration::from_secs(2)).await;
            assert!(!down.healthy && down.detail.contains("503"), "{down:?}");
            server.abort();
            // Nothing listens there any more.
            let refused = Probe::Tcp(address).run(Duration::from_secs(2)).await;
            assert!(!refused.healthy);
        });
    }

    #[test]
    fn a_units_cgroup_is_found_in_its_slice_and_read() {
        let root = std::env::temp_dir().join(format!("vrrpd-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let unit_dir = |path: &str, populated: bool| {
            let dir = root.join(path);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("cgroup.events"),
                format!("populated {}\nfrozen 0\n", u8::from(populated)),
            )
            .unwrap();
        };
        std::fs::create_dir_all(&root).unwrap();
        // Not a cgroup tree (neither cgroup.controllers nor cgroup.procs).
        assert!(unit_populated(&root, "caddy.service").is_err());
        // A v1 name=systemd tree: processes are listed in cgroup.procs, maybe below.
        let v1 = root.join("v1");
        for (path, procs) in [
            ("", "1\n"),
            ("system.slice", ""),
            ("system.slice/caddy.service", ""),
            ("system.slice/caddy.service/worker", "431\n"),
            ("system.slice/stopped.service", ""),
        ] {
            std::fs::create_dir_all(v1.join(path)).unwrap();
            std::fs::write(v1.join(path).join("cgroup.procs"), procs).unwrap();
        }
        assert_eq!(unit_populated(&v1, "caddy.service"), Ok(Some(true)));
        assert_eq!(unit_populated(&v1, "stopped.service"), Ok(Some(false)));
        assert_eq!(unit_populated(&v1, "absent.service"), Ok(None));
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        unit_dir("system.slice/caddy.service", true);
        unit_dir("system.slice/stopped.service", false);
        unit_dir("web.slice/web-front.slice/nginx.service", true);
        assert_eq!(unit_populated(&root, "caddy.service"), Ok(Some(true)));
        assert_eq!(unit_populated(&root, "stopped.service"), Ok(Some(false)));
        // Found in a nested slice (Slice=web-front.slice).
        assert_eq!(unit_populated(&root, "nginx.service"), Ok(Some(true)));
        assert_eq!(unit_populated(&root, "absent.service"), Ok(None));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_hidepid_proc_is_recognised() {
        let line = |options: &str| {
            format!(
                "25 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:14 - proc proc {options}"
            )
        };
        assert!(hides_pids(&line("rw,hidepid=invisible,subset=pid")));
        assert!(hides_pids(&line("rw,hidepid=2")));
        assert!(!hides_pids(&line("rw,hidepid=0")));
        assert!(!hides_pids(&line("rw")));
    }

    #[test]
    fn a_process_matches_by_name_and_argv_prefix() {
        let wanted = |name: Option<&str>, prefix: Option<&[&str]>| ProcessMatch {
            name: name.map(str::to_owned),
            argv_prefix: prefix.map(|p| p.iter().map(|a| (*a).to_owned()).collect()),
            min_count: 1,
        };
        let cmdline = b"/usr/bin/caddy\0run\0--config\0/etc/caddy/Caddyfile\0";
        assert!(wanted(Some("caddy"), None).matches("caddy", cmdline));
        assert!(!wanted(Some("caddy"), None).matches("caddy-helper", cmdline));
        assert!(wanted(None, Some(&["/usr/bin/caddy", "run"])).matches("caddy", cmdline));
        assert!(!wanted(None, Some(&["/usr/bin/caddy", "stop"])).matches("caddy", cmdline));
        // A prefix longer than the command line does not match; "run" is not "ru".
        assert!(!wanted(None, Some(&["/usr/bin/caddy", "ru"])).matches("caddy", cmdline));
        assert!(
            !wanted(None, Some(&["/usr/bin/caddy", "run", "--config", "x", "y"]))
                .matches("caddy", cmdline)
        );
        assert!(!wanted(Some("caddy"), Some(&["caddy"])).matches("caddy", cmdline));
        // A kernel thread has an empty command line: only a name can match it.
        assert!(!wanted(None, Some(&["kthreadd"])).matches("kthreadd", b""));
    }

    /// The check counts real processes in /proc: one started with a marker argument is
    /// found (and counted once), two are needed and one is not enough, and once it is
    /// gone the check fails.
    #[test]
    fn a_process_check_counts_the_running_processes() {
        let marker = format!("0.{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .args(["30", &marker])
            .spawn()
            .expect("sleep");
        // Until the child has exec'd, /proc shows it as a copy of this test binary. The
        // kernel renames the task (comm) before the new program's argument pages are in
        // place (begin_new_exec, then create_elf_tables), so wait for the command line
        // itself: a wait on comm alone counted 0 processes under load.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read(&cmdline).map_or(true, |argv| {
            !argv
                .split(|byte| *byte == 0)
                .any(|word| word == marker.as_bytes())
        }) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let probe = |min_count: u32| {
            Probe::Process(ProcessMatch {
                name: Some("sleep".to_owned()),
                argv_prefix: Some(vec!["sleep".to_owned(), "30".to_owned(), marker.clone()]),
                min_count,
            })
        };
        rt().block_on(async {
            let found = probe(1).run(Duration::from_secs(2)).await;
            assert!(found.healthy, "{found:?}");
            assert_eq!(found.detail, "1 matching processes (at least 1 needed)");
            let too_few = probe(2).run(Duration::from_secs(2)).await;
            assert!(!too_few.healthy, "{too_few:?}");
        });
        child.kill().unwrap();
        child.wait().unwrap();
        rt().block_on(async {
            let gone = probe(1).run(Duration::from_secs(2)).await;
            assert!(!gone.healthy, "{gone:?}");
            assert!(gone.detail.starts_with("0 matching"), "{gone:?}");
        });
    }

    /// A private CA made by the test (openssl, as an operator would make one): its root
    /// and a leaf for www.example.org it signed, in a fresh directory. Returns the
    /// directory; the files are ca.pem, leaf.pem, leaf.key.
    fn make_private_ca(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vrrpd-ca-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=DNS:www.example.org\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509", "-new"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-subj",
                    "/CN=vrrpd test CA",
                    "-days",
                    "2",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
            [
                &["req", "-new"][..],
                &ec,
                &[
                    "-keyout",
                    "leaf.key",
                    "-subj",
                    "/CN=www.example.org",
                    "-out",
                    "leaf.csr",
                ],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
                "-out",
                "leaf.pem",
            ],
        ];
        for args in steps {
            let output = std::process::Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("openssl (Debian's openssl, which ca-certificates pulls in)");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        dir
    }

    /// `ca_file`: a server whose certificate a private CA signed is trusted with that CA's
    /// root, and refused with another CA's or with the built-in roots; a CA file that is
    /// missing or holds no certificate is a setup error naming the file.
    #[test]
    fn https_checks_against_a_private_ca() {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let ours = make_private_ca("ours");
        let other = make_private_ca("other");
        let leaf = CertificateDer::from_pem_file(ours.join("leaf.pem")).unwrap();
        let key = PrivateKeyDer::from_pem_file(ours.join("leaf.key")).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let not_pem = ours.join("not-pem.txt");
        std::fs::write(&not_pem, "just text\n").unwrap();
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let mut buffer = [0u8; 1024];
                        let _ = tls.read(&mut buffer).await;
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                    });
                }
            });
            let probe = |ca_file: Option<&std::path::Path>| {
                Probe::build(&TrackerConfig {
                    name: "caddy".to_owned(),
                    check: CheckConfig::Http {
                        url: format!("https://{address}/"),
                        server_name: Some("www.example.org".to_owned()),
                        verify_tls: true,
                        ca_file: ca_file.map(|path| path.to_string_lossy().into_owned()),
                        expected_status: Some(vec![200]),
                    },
                    interval_ms: 1000,
                    timeout_ms: 1000,
                    rise: 1,
                    fall: 1,
                })
            };
            let trusted = probe(Some(&ours.join("ca.pem")))
                .unwrap()
                .run(Duration::from_secs(3))
                .await;
            assert!(trusted.healthy, "{trusted:?}");
            assert_eq!(trusted.detail, "HTTP 200");
            for roots in [Some(other.join("ca.pem")), None] {
                let refused = probe(roots.as_deref())
                    .unwrap()
                    .run(Duration::from_secs(3))
                    .await;
                assert!(!refused.healthy, "{roots:?}: {refused:?}");
                assert!(refused.detail.starts_with("TLS:"), "{refused:?}");
            }
            for (file, wanted) in [
                (ours.join("missing.pem"), "cannot read it"),
                (not_pem.clone(), "holds no PEM certificate"),
            ] {
                let error = probe(Some(&file)).map(|_| ()).unwrap_err().to_string();
                assert!(
                    error.contains(&*file.to_string_lossy()) && error.contains(wanted),
                    "{error}"
                );
            }
            server.abort();
        });
        let _ = std::fs::remove_dir_all(&ours);
        let _ = std::fs::remove_dir_all(&other);
    }

    /// HTTPS against a self-signed certificate: accepted with `verify_tls: false` (and the
    /// SNI is sent), refused with verification on.
    #[test]
    fn https_checks_with_and_without_verification() {
        use rustls::pki_types::PrivateKeyDer;
        let cert = CertificateDer::from(include_bytes!("testdata/selfsigned-cert.der").to_vec());
        let key = PrivateKeyDer::try_from(include_bytes!("testdata/selfsigned-key.der").to_vec())
            .unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let sni = tls.get_ref().1.server_name().map(str::to_owned);
                        let mut buffer = [0u8; 1024];
                        let read = tls.read(&mut buffer).await.unwrap_or(0);
                        let request = String::from_utf8_lossy(&buffer[..read]).to_string();
                        // 421 Misdirected Request unless both SNI and Host name the site (Host has the
                        // port, which is not 443).
                        let right_name = sni.as_deref() == Some("www.example.org")
                            && request.contains("\r\nHost: www.example.org:");
                        let status = if right_name {
                            "200 OK"
                        } else {
                            "421 Misdirected"
                        };
                        let _ = tls
                            .write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes())
                            .await;
                        let _ = tls.shutdown().await;
                    });
                }
            });
            let probe = |verify_tls: bool, server_name: Option<&str>| {
                Probe::build(&TrackerConfig {
                    name: "caddy".to_owned(),
                    check: CheckConfig::Http {
                        url: format!("https://{address}/"),
                        server_name: server_name.map(str::to_owned),
                        verify_tls,
                        ca_file: None,
                        expected_status: Some(vec![200]),
                    },
                    interval_ms: 1000,
                    timeout_ms: 1000,
                    rise: 1,
                    fall: 1,
                })
                .unwrap()
            };
            let unverified = probe(false, Some("www.example.org"))
                .run(Duration::from_secs(3))
                .await;
            assert!(unverified.healthy, "{unverified:?}");
            assert_eq!(unverified.detail, "HTTP 200");
            let verified = probe(true, Some("www.example.org"))
                .run(Duration::from_secs(3))
                .await;
            assert!(!verified.healthy);
            assert!(verified.detail.starts_with("TLS:"), "{verified:?}");
            // Without server_name the IP is used: no SNI, Host is the IP: 421.
            let by_ip = probe(false, None).run(Duration::from_secs(3)).await;
            assert!(!by_ip.healthy && by_ip.detail.contains("421"), "{by_ip:?}");
            server.abort();
        });
    }
}
