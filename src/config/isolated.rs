//! The daemon's config loading: the schema check runs in a short-lived child process.
//!
//! Why: the JSON Schema validator (jsonschema with its regex engines, about 1.8 MB of
//! code) and the heap it builds are needed for a few milliseconds at start-up and at each
//! reload, yet a daemon that ran them keeps most of those pages resident for months
//! (file-backed pages are faulted in 64 KB at a time, and glibc keeps freed heap).
//! A child that runs the check and exits leaves none of it behind.
//!
//! How: the daemon reads the file once and parses it (a syntax error is reported at
//! once, as before). It starts its own executable (`/proc/self/exe`, which still names
//! the running binary after a package upgrade replaced the file) with the hidden
//! subcommand [`SCHEMA_CHECK_COMMAND`], writes the same bytes to its stdin and reads
//! the problems from its stdout as JSON lines ([`serve_schema_check`] is the child's
//! side). Deserializing and the cross-field rules then run in the daemon, exactly as
//! in [`super::load_value`], so the answer is the same as `vrrpd check`'s.
//!
//! Failure handling, never running an unchecked config:
//! - the child cannot be started (no /proc, fork or exec refused by a seccomp filter,
//!   out of processes): the check runs in this process instead, with a warning;
//! - the child does not answer within [`SCHEMA_CHECK_TIMEOUT`], dies, or answers
//!   something unreadable: the config counts as invalid ([`ConfigError::Unchecked`]),
//!   so a reload keeps the running config.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

use super::{Config, ConfigError, ConfigProblem};

/// The hidden `vrrpd` subcommand that runs the schema check for the daemon.
pub const SCHEMA_CHECK_COMMAND: &str = "internal-schema-check";

/// How long the child may take. It needs a few milliseconds; this only bounds a child
/// that hangs (e.g. stopped by a debugger or starved of memory).
pub const SCHEMA_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The running executable, as the kernel knows it.
const SELF_EXE: &str = "/proc/self/exe";

/// The most the child may write: far more than the problems of any real config.
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// One line of the child's answer on stdout.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum AnswerLine {
    /// One schema problem, as [`super::schema_problems`] reports it.
    Problem { pointer: String, message: String },
    /// The last line: the check ran to the end and found this many problems. Without it
    /// the answer is incomplete.
    Done { problems: usize },
}

/// Set to `in-process` to run the schema check in the daemon itself: for tools that run
/// the daemon but cannot run a copy of it from `/proc/self/exe` (valgrind, which the
/// kernel's link names instead of vrrpd), and for debugging. Nothing else changes.
pub const SCHEMA_CHECK_ENV: &str = "VRRPD_SCHEMA_CHECK";

/// Read, parse and fully check `path`, with the schema check in a child process (or
/// in-process, see [`SCHEMA_CHECK_ENV`]). Same answers as [`super::load_file`]; see the
/// module documentation for failures.
pub async fn load_file(path: &Path) -> Result<Config, ConfigError> {
    if std::env::var(SCHEMA_CHECK_ENV).is_ok_and(|value| value == "in-process") {
        return super::load_file(path);
    }
    load_file_with(Path::new(SELF_EXE), path, SCHEMA_CHECK_TIMEOUT).await
}

/// [`load_file`] with the checking executable and the time limit given (for tests,
/// whose own executable is not vrrpd).
pub async fn load_file_with(
    checker: &Path,
    path: &Path,
    timeout: Duration,
) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = super::read_file(path)?;
    let document = super::parse_document(&text, &origin)?;
    let problems = match check_in_child(checker, text.as_bytes(), timeout).await {
        Ok(problems) => problems,
        Err(ChildFailure::NotStarted(error)) => {
            warn!(
                "cannot start the schema check process ({}: {error}); checking {origin} in \
                 the daemon process instead",
                checker.display()
            );
            super::schema_problems(&document)
        }
        Err(ChildFailure::NoAnswer(reason)) => {
            return Err(ConfigError::Unchecked {
                path: origin,
                reason,
            });
        }
    };
    let config = super::load_checked_value(&document, &origin, problems)?;
    warn_about_privileged_hooks(&config);
    warn_about_a_readable_password(path, &config);
    Ok(config)
}

/// A VRRPv2 password in a file every local user can read: said at start and at every
/// reload. Not an error: the password travels in clear text in every advertisement
/// (RFC 3768 §5.3.6.1), so it keeps only accidents out, and the shipped unit's
/// DynamicUser cannot read a file that is not world-readable; but an operator should know.
fn warn_about_a_readable_password(path: &Path, config: &Config) {
    use std::os::unix::fs::PermissionsExt;
    let with_password: Vec<&str> = config
        .instances
        .iter()
        .filter(|instance| {
            matches!(
                instance.authentication,
                super::AuthenticationConfig::Pass { .. }
            )
        })
        .map(|instance| instance.name.as_str())
        .collect();
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if with_password.is_empty() || mode & 0o004 == 0 {
        return;
    }
    warn!(
        "{} holds the VRRP password of {} and every local user can read it (mode {mode:04o}); \
         make it 0640 with a group vrrpd is in (a static User=/Group= drop-in), or on NixOS use \
         services.vrrp.authentication.passwordFile",
        path.display(),
        with_password.join(", ")
    );
}

/// The daemon loads through here at start and at every reload: an operator who turned
/// `keep_privileges` on hears about it each time, not only when a hook runs.
fn warn_about_privileged_hooks(config: &Config) {
    for instance in config.instances_whose_hooks_keep_privileges() {
        warn!(
            "({instance}) notify.keep_privileges is on: its hooks run with vrrpd's own uid and \
             capabilities (CAP_NET_ADMIN and CAP_NET_RAW under the shipped unit, everything as \
             root), not without them"
        );
    }
}

/// Why the child gave no answer.
#[derive(Debug)]
enum ChildFailure {
    /// It never ran: check in-process instead.
    NotStarted(std::io::Error),
    /// It ran but did not answer properly: the config counts as unchecked.
    NoAnswer(String),
}

async fn check_in_child(
    checker: &Path,
    text: &[u8],
    timeout: Duration,
) -> Result<Vec<ConfigProblem>, ChildFailure> {
    let mut command = tokio::process::Command::new(checker);
    command
        .arg0("vrrpd")
        .arg(SCHEMA_CHECK_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // A panic message or a warning reaches the daemon's log.
        .stderr(Stdio::inherit())
        // The child is not the service: it must not talk to systemd.
        .env_remove("NOTIFY_SOCKET")
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(ChildFailure::NotStarted)?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ChildFailure::NoAnswer(
            "the schema check process has no pipes".to_owned(),
        ));
    };
    let exchange = async {
        // A child that exits early closes its stdin (EPIPE): its exit status says why.
        let written = stdin.write_all(text).await;
        drop(stdin);
        let mut answer = Vec::new();
        let read = stdout.take(MAX_ANSWER_BYTES).read_to_end(&mut answer).await;
        let status = child.wait().await;
        (written, read, status, answer)
    };
    let outcome = tokio::time::timeout(timeout, exchange).await;
    let (written, read, status, answer) = match outcome {
        Ok(outcome) => outcome,
        Err(_) => {
            // Kill and reap it; an error here means it is gone already.
            let _ = child.kill().await;
            return Err(ChildFailure::NoAnswer(format!(
                "the schema check process did not finish within {} and was killed",
                describe_duration(timeout)
            )));
        }
    };
    let status = status.map_err(|error| {
        ChildFailure::NoAnswer(format!("cannot wait for the schema check process: {error}"))
    })?;
    if !status.success() {
        return Err(ChildFailure::NoAnswer(format!(
            "the schema check process {}",
            describe_exit(status)
        )));
    }
    if let Err(error) = written.and(read.map(|_| ())) {
        return Err(ChildFailure::NoAnswer(format!(
            "cannot talk to the schema check process: {error}"
        )));
    }
    parse_answer(&answer).map_err(ChildFailure::NoAnswer)
}

/// "10 s", or "250 ms" for limits below a second (tests).
fn describe_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}

/// The problems of a complete answer, in the child's order. Public for the fuzz target
/// that checks it against the in-process schema check.
#[doc(hidden)]
pub fn parse_answer(answer: &[u8]) -> Result<Vec<ConfigProblem>, String> {
    let text = std::str::from_utf8(answer)
        .map_err(|_| "the schema check process answered with non-UTF-8 output".to_owned())?;
    let mut problems = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let parsed: AnswerLine = serde_json::from_str(line)
            .map_err(|error| format!("unreadable answer from the schema check process: {error}"))?;
        match parsed {
            AnswerLine::Problem { pointer, message } => {
                problems.push(ConfigProblem { pointer, message })
            }
            AnswerLine::Done { problems: count } if count == problems.len() => {
                return Ok(problems);
            }
            AnswerLine::Done { problems: count } => {
                return Err(format!(
                    "the schema check process counted {count} problems but sent {}",
                    problems.len()
                ));
            }
        }
    }
    Err("the schema check process's answer ended early".to_owned())
}

/// The child's side ([`SCHEMA_CHECK_COMMAND`]): read a document from `input`, write its
/// schema problems to `output` as JSON lines, the last one `{"done":{"problems":N}}`.
/// Returns the exit status: 0 when the check ran (whatever it found), 2 when the input
/// is not a JSON document, 1 when the answer cannot be written.
pub fn serve_schema_check(mut input: impl std::io::Read, mut output: impl std::io::Write) -> u8 {
    let mut text = String::new();
    if let Err(error) = input.read_to_string(&mut text) {
        eprintln!("vrrpd {SCHEMA_CHECK_COMMAND}: cannot read the config from stdin: {error}");
        return 2;
    }
    let document = match super::parse_document(&text, "<stdin>") {
        Ok(document) => document,
        Err(error) => {
            eprintln!("vrrpd {SCHEMA_CHECK_COMMAND}: {error}");
            return 2;
        }
    };
    let problems = super::schema_problems(&document);
    let count = problems.len();
    let lines = problems
        .into_iter()
        .map(|problem| AnswerLine::Problem {
            pointer: problem.pointer,
            message: problem.message,
        })
        .chain(std::iter::once(AnswerLine::Done { problems: count }));
    let mut written = Ok(());
    for line in lines {
        written = serde_json::to_writer(&mut output, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| output.write_all(b"\n"));
        if written.is_err() {
            break;
        }
    }
    match written.and_then(|()| output.flush()) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("vrrpd {SCHEMA_CHECK_COMMAND}: cannot write the answer: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(document: &str) -> Vec<ConfigProblem> {
        let mut answer = Vec::new();
        assert_eq!(serve_schema_check(document.as_bytes(), &mut answer), 0);
        parse_answer(&answer).unwrap()
    }

    #[test]
    fn answer_carries_the_in_process_problems() {
        let document = r#"{"instances":[{"name":"a b","interface":"eth0","virtual_router_id":0,
            "priority":100,"virtual_addresses":["192.0.2.400"],"bogus":1}]}"#;
        let expected = super::super::schema_problems(&serde_json::from_str(document).unwrap());
        assert!(expected.len() >= 3, "{expected:?}");
        assert_eq!(round_trip(document), expected);
    }

    #[test]
    fn a_valid_document_has_an_empty_complete_answer() {
        let document = r#"{"instances":[{"name":"a","interface":"eth0","virtual_router_id":1,
            "priority":100,"virtual_addresses":["192.0.2.40"]}]}"#;
        let mut answer = Vec::new();
        assert_eq!(serve_schema_check(document.as_bytes(), &mut answer), 0);
        assert_eq!(
            String::from_utf8(answer).unwrap(),
            "{\"done\":{\"problems\":0}}\n"
        );
    }

    #[test]
    fn the_child_refuses_what_is_not_json() {
        let mut answer = Vec::new();
        assert_eq!(serve_schema_check(&b"{not json"[..], &mut answer), 2);
        assert!(answer.is_empty());
    }

    #[test]
    fn incomplete_or_inconsistent_answers_are_refused() {
        let problem = r#"{"problem":{"pointer":"/instances","message":"m"}}"#;
        assert!(parse_answer(b"").unwrap_err().contains("ended early"));
        assert!(
            parse_answer(format!("{problem}\n").as_bytes())
                .unwrap_err()
                .contains("ended early")
        );
        assert!(
            parse_answer(format!("{problem}\n{{\"done\":{{\"problems\":2}}}}\n").as_bytes())
                .unwrap_err()
                .contains("counted 2 problems but sent 1")
        );
        assert!(
            parse_answer(b"garbage\n")
                .unwrap_err()
                .contains("unreadable answer")
        );
        assert_eq!(
            parse_answer(format!("{problem}\n{{\"done\":{{\"problems\":1}}}}\n").as_bytes()),
            Ok(vec![ConfigProblem {
                pointer: "/instances".to_owned(),
                message: "m".to_owned()
            }])
        );
    }
}
