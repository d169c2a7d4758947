//! The keepalived.conf importer (`vrrpd import-keepalived`, `import_keepalived::run`), from
//! text to a vrrpd JSON config.
//!
//! The input is one or more files, separated by a line [`FILE_SEPARATOR`]: the first is
//! `keepalived.conf`, the others `inc1.conf`, `conf.d/inc2.conf`, `inc3.conf`, … beside it,
//! so that `include` (with its globs and braces) has something to find. They are written
//! to a private directory and imported from there, strictly and with `--allow-partial`.
//!
//! An `include` may name any path, and the importer reads what it names: `/dev/zero` or a
//! FIFO would hang the fuzzer, a glob over `/` would read the machine. Inputs whose
//! include lines could reach outside the directory are skipped ([`stays_inside`]); the
//! lexer, the parser and the conversion still see every other line.
//!
//! The contract (docs/migrating-from-keepalived.md): what the importer prints has passed
//! the same validation as `vrrpd check`. So:
//! - an import never fails with `Serialize` (`Validation`, the loader refusing what the
//!   importer built, is how it refuses to print such a config);
//! - a successful import's JSON loads (`config::load_str`) to the config it reports, ends
//!   with a newline, and every finding points at a line of one of the files;
//! - what imports strictly imports the same with `--allow-partial`, and without findings
//!   of severity `unsupported`.

use std::path::{Path, PathBuf};

use vrrpd::config;
use vrrpd::import_keepalived::{self, ImportError, ImportOutput, Severity};

/// A line of its own between two files of one input.
pub const FILE_SEPARATOR: &str = "#%%% next file %%%";

/// At most this many files per input.
const MAX_FILES: usize = 8;

/// The name of file `index` of an input, relative to the directory.
pub fn file_name(index: usize) -> String {
    match index {
        0 => "keepalived.conf".to_owned(),
        odd if odd % 2 == 1 => format!("inc{odd}.conf"),
        even => format!("conf.d/inc{even}.conf"),
    }
}

/// The words a line starts with when keepalived would read it as an include: the
/// keyword is recognised on the raw line, so it may be quoted or escaped.
fn may_be_include(line: &str) -> bool {
    matches!(line.trim_start().chars().next(), Some('i' | '"' | '\''))
}

/// True when no line that could be an `include` can name a path outside the directory:
/// no absolute path (a `/` after anything but a name character), no `..`, no `~`, no
/// escapes (`"\x2f"` is a `/`).
pub fn stays_inside(text: &str) -> bool {
    text.lines()
        .filter(|line| may_be_include(line))
        .all(|line| {
            if line.contains("..") || line.contains('~') || line.contains('\\') {
                return false;
            }
            let bytes = line.as_bytes();
            bytes.iter().enumerate().all(|(at, byte)| {
                *byte != b'/'
                    || at.checked_sub(1).is_some_and(|before| {
                        let before = bytes[before];
                        before.is_ascii_alphanumeric() || b"_-.*?]".contains(&before)
                    })
            })
        })
}

/// A directory of this process's own (in memory where /dev/shm exists), made for one input
/// and removed after it.
fn scratch_directory() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("vrrpd-fuzz-import-{}", std::process::id()))
}

pub fn run(data: &[u8]) {
    // keepalived reads bytes and the importer takes them lossily; the separator needs text.
    let text = String::from_utf8_lossy(data);
    let files: Vec<&str> = text.split(&format!("\n{FILE_SEPARATOR}\n")).collect();
    if files.len() > MAX_FILES || !files.iter().all(|file| stays_inside(file)) {
        return;
    }
    let directory = scratch_directory();
    std::fs::create_dir_all(directory.join("conf.d")).expect("scratch directory");
    let mut written = Vec::new();
    for (index, contents) in files.iter().enumerate() {
        let path = directory.join(file_name(index));
        std::fs::write(&path, contents).expect("write a scratch file");
        written.push(path);
    }
    let main = &written[0];
    let strict = import_keepalived::run(main, false);
    let partial = import_keepalived::run(main, true);
    let _ = std::fs::remove_dir_all(&directory);

    for result in [&strict, &partial] {
        match result {
            // `Validation` is the importer's last line of defence doing its job (a sync
            // group naming an instance the file does not define fails there, as
            // tests/import_keepalived.rs pins); a config that cannot be serialized is not.
            Err(error @ ImportError::Serialize(_)) => {
                panic!("the importer built a config it cannot serialize: {error}")
            }
            Err(ImportError::Read { path, source }) => {
                panic!(
                    "cannot read {} although it was just written: {source}",
                    path.display()
                )
            }
            Ok(output) => check_output(output, &written),
            Err(_) => {}
        }
    }
    match (&strict, &partial) {
        (Ok(strict), Ok(partial)) => {
            assert_eq!(
                strict.json, partial.json,
                "--allow-partial changed a strict import"
            );
            assert!(
                strict
                    .warnings
                    .iter()
                    .all(|d| d.severity < Severity::Unsupported),
                "a strict import passed with unsupported keywords"
            );
        }
        (Ok(_), Err(error)) => panic!("imports strictly but not with --allow-partial: {error}"),
        (Err(ImportError::Unsupported { .. }), Err(error))
            if !matches!(error, ImportError::Validation(_)) =>
        {
            // With the unsupported keywords left out, what stays must still import.
            panic!(
                "--allow-partial fails where only unsupported keywords stopped the strict import: {error}"
            )
        }
        _ => {}
    }
}

fn check_output(output: &ImportOutput, files: &[PathBuf]) {
    assert!(output.json.ends_with('\n'));
    let loaded = config::load_str(&output.json, "imported.json")
        .unwrap_or_else(|error| panic!("the imported JSON does not load: {error}"));
    assert_eq!(
        loaded, output.config,
        "the JSON and the reported config differ"
    );
    for finding in &output.warnings {
        assert!(finding.line >= 1, "{finding}");
        assert!(
            files.contains(&finding.file),
            "a finding about a file that is not part of the input: {finding}"
        );
        assert!(
            finding.severity < Severity::Error,
            "imported with an error: {finding}"
        );
    }
}
