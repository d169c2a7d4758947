//! The daemon's config loading with the schema check in a child process
//! (`config::isolated`) gives exactly the answers of the in-process `config::load_file`,
//! falls back to checking in-process when the child cannot start, and refuses the config
//! when the child hangs, dies or answers nonsense.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vrrpd::config::{self, ConfigError, isolated};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vrrpd-isolated-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An executable shell script standing in for the checker.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.file(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Both loaders' answers, as text (Config has no Display; errors are compared as shown).
fn both(checker: &Path, path: &Path) -> (String, String) {
    let show = |result: Result<config::Config, ConfigError>| match result {
        Ok(config) => format!("{config:?}"),
        Err(error) => format!("error: {error}"),
    };
    let in_process = show(config::load_file(path));
    let isolated = show(block_on(isolated::load_file_with(
        checker,
        path,
        isolated::SCHEMA_CHECK_TIMEOUT,
    )));
    (in_process, isolated)
}

const INVALID_SCHEMA: &str = r#"{
  "instances": [
    { "name": "a b", "interface": "eth0", "virtual_router_id": 0, "version": 2,
      "priority": 100, "advert_interval_ms": 1500, "virtual_addresses": ["192.0.2.400"],
      "prioriti": 5 },
    { "name": "ok", "interface": "eth0", "virtual_router_id": 7, "priority": 100,
      "virtual_addresses": ["2001:db8::1", "fe80::1"] }
  ],
  "trackers": [ { "name": "t", "check": { "type": "tcp", "connect": "nowhere" } } ]
}"#;

/// Passes the schema, breaks cross-field rules (duplicate name and VRID, v3 IPv6 first
/// address not link-local).
const INVALID_RULES: &str = r#"{
  "instances": [
    { "name": "a", "interface": "eth0", "virtual_router_id": 9, "priority": 100,
      "virtual_addresses": ["192.0.2.40"] },
    { "name": "a", "interface": "eth0", "virtual_router_id": 9, "priority": 100,
      "virtual_addresses": ["192.0.2.41"] },
    { "name": "b", "interface": "eth0", "virtual_router_id": 10, "priority": 100,
      "virtual_addresses": ["2001:db8::1"] }
  ]
}"#;

#[test]
fn the_child_check_gives_the_in_process_answers() {
    let scratch = Scratch::new("same");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    assert!(paths.len() >= 3, "examples: {paths:?}");
    paths.push(scratch.file("schema.json", INVALID_SCHEMA));
    paths.push(scratch.file("rules.json", INVALID_RULES));
    paths.push(scratch.file("syntax.json", "{\"instances\": [}"));
    paths.push(scratch.0.join("missing.json"));
    for path in &paths {
        let (in_process, isolated) = both(Path::new(VRRPD), path);
        assert_eq!(isolated, in_process, "{}", path.display());
    }
    // The invalid ones really are reported with their problems.
    let (_, schema) = both(Path::new(VRRPD), &paths[paths.len() - 4]);
    assert!(
        schema.contains("problems:\n  /instances/0/advert_interval_ms"),
        "{schema}"
    );
    let (_, rules) = both(Path::new(VRRPD), &paths[paths.len() - 3]);
    assert!(
        rules.starts_with("error: ") && rules.contains("/instances/1"),
        "{rules}"
    );
}

#[test]
fn a_checker_that_cannot_start_falls_back_to_the_in_process_check() {
    let scratch = Scratch::new("fallback");
    let missing = scratch.0.join("no-such-vrrpd");
    let bad = scratch.file("schema.json", INVALID_SCHEMA);
    let (in_process, isolated) = both(&missing, &bad);
    assert_eq!(isolated, in_process);
    assert!(isolated.contains("/instances/0/name"), "{isolated}");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lb01.json");
    let (in_process, isolated) = both(&missing, &good);
    assert_eq!(isolated, in_process);
    assert!(!isolated.starts_with("error"), "{isolated}");
}

fn unchecked_reason(checker: &Path, path: &Path, timeout: Duration) -> String {
    match block_on(isolated::load_file_with(checker, path, timeout)) {
        Err(ConfigError::Unchecked { reason, .. }) => reason,
        other => panic!("expected an unchecked config, got {other:?}"),
    }
}

#[test]
fn a_hanging_checker_is_killed_and_the_config_refused() {
    let scratch = Scratch::new("hang");
    let pid_file = scratch.0.join("pid");
    let hanging = scratch.script(
        "hang",
        &format!("echo $$ > {}\nexec sleep 30", pid_file.display()),
    );
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lb01.json");
    let started = Instant::now();
    let reason = unchecked_reason(&hanging, &good, Duration::from_millis(500));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        reason.contains("did not finish within 500 ms and was killed"),
        "{reason}"
    );
    // Killed and reaped, not left behind.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the checker (pid {pid}) is still there"
    );
    let error = block_on(isolated::load_file_with(
        &hanging,
        &good,
        Duration::from_millis(200),
    ))
    .unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "cannot validate {}: the schema check",
            good.display()
        )),
        "{error}"
    );
}

#[test]
fn a_failing_or_garbled_checker_refuses_the_config() {
    let scratch = Scratch::new("garbled");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lb01.json");
    let limit = Duration::from_secs(10);
    let failing = scratch.script("fail", "cat >/dev/null; exit 3");
    assert!(unchecked_reason(&failing, &good, limit).contains("exited with status 3"));
    let killed = scratch.script("killed", "cat >/dev/null; kill -9 $$");
    assert!(unchecked_reason(&killed, &good, limit).contains("killed by signal 9"));
    let garbled = scratch.script("garbled", "cat >/dev/null; echo garbage");
    assert!(unchecked_reason(&garbled, &good, limit).contains("unreadable answer"));
    // Says "no problems" without the final line: an answer cut short.
    let cut = scratch.script("cut", "cat >/dev/null; true");
    assert!(unchecked_reason(&cut, &good, limit).contains("ended early"));
    // A checker's "no schema problems" does not skip the daemon's own checks: the
    // cross-field rules still run on the document.
    // It reads the document first, like the real checker: one that answered and exited
    // before the document was written would make the write fail (EPIPE), a different
    // outcome that this test does not mean to check (it made the test flaky under load).
    let lenient = scratch.script(
        "lenient",
        "cat >/dev/null; echo '{\"done\":{\"problems\":0}}'",
    );
    let rules = scratch.file("rules.json", INVALID_RULES);
    match block_on(isolated::load_file_with(&lenient, &rules, limit)) {
        Err(ConfigError::Invalid { problems, .. }) => assert!(!problems.is_empty()),
        other => panic!("the cross-field rules must still run: {other:?}"),
    }
}

#[test]
fn the_hidden_subcommand_answers_in_json_lines() {
    use std::io::Write;
    let mut child = std::process::Command::new(VRRPD)
        .arg(isolated::SCHEMA_CHECK_COMMAND)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(INVALID_SCHEMA.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = config::schema_problems(&serde_json::from_str(INVALID_SCHEMA).unwrap());
    assert_eq!(lines.len(), expected.len() + 1, "{text}");
    for (line, problem) in lines.iter().zip(&expected) {
        assert_eq!(line["problem"]["pointer"], problem.pointer.as_str());
        assert_eq!(line["problem"]["message"], problem.message.as_str());
    }
    assert_eq!(lines[expected.len()]["done"]["problems"], expected.len());
    // Hidden from the help.
    let help = std::process::Command::new(VRRPD)
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(isolated::SCHEMA_CHECK_COMMAND));
}

/// In both modes: the schema check in a child (the default), and in the daemon itself
/// (`VRRPD_SCHEMA_CHECK=in-process`, for valgrind and debugging).
#[test]
fn run_refuses_an_invalid_config_like_check_does() {
    let scratch = Scratch::new("run");
    let cases = [
        ("schema.json", INVALID_SCHEMA),
        ("rules.json", INVALID_RULES),
    ];
    for ((name, text), mode) in cases
        .iter()
        .flat_map(|case| [(*case, "child"), (*case, "in-process")])
    {
        let path = scratch.file(name, text);
        let check = std::process::Command::new(VRRPD)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let run = std::process::Command::new(VRRPD)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .env(isolated::SCHEMA_CHECK_ENV, mode)
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(2));
        assert_eq!(run.status.code(), Some(2), "{mode}: {run:?}");
        // Every problem line of `check` is in the daemon's log too.
        let check_text = String::from_utf8_lossy(&check.stderr);
        let run_text = String::from_utf8_lossy(&run.stderr);
        let problem_lines: Vec<&str> = check_text
            .lines()
            .filter(|line| line.starts_with("  /"))
            .collect();
        assert!(problem_lines.len() >= 2, "{check_text}");
        for line in problem_lines {
            assert!(
                run_text.contains(line),
                "{mode}: {line:?} missing from:\n{run_text}"
            );
        }
        assert!(
            !run_text.contains("cannot start the schema check"),
            "{run_text}"
        );
    }
}
