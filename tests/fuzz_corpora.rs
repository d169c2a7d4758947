//! The fuzz corpora on a stable toolchain: every committed input of `fuzz/corpus/<target>/`
//! (the seeds, and what fuzzing runs kept) goes through the same checks as its fuzz
//! target (`fuzz/src/*.rs`, included here, not copied), so that CI replays them without
//! nightly or libFuzzer. See docs/RELIABILITY.md, "Fuzzing".
//!
//! `seeds_are_current` checks that the committed `seed-*` files are what
//! `fuzz/src/seeds.rs` makes from the repository; `VRRPD_BLESS=1` writes them instead and
//! fails, so that new seeds are reviewed.

#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let directory = root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.iter().any(|path| path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("seed-"))),
        "{}: no seeds",
        directory.display()
    );
    files
}

/// Every input of `target`'s corpus through `check`; a failure names the file.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    for path in &files {
        let data = std::fs::read(path).expect("corpus file");
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            panic!(
                "{}: {message}\n  reproduce: cargo +nightly fuzz run {target} {}",
                path.display(),
                path.display()
            );
        }
    }
    println!("{target}: {} inputs replayed", files.len());
}

#[test]
fn advert_decoder_corpus() {
    replay("advert_decoder", fuzz::advert_decoder::run);
}

#[test]
fn config_loader_corpus() {
    replay("config_loader", fuzz::config_loader::run);
}

#[test]
fn control_protocol_corpus() {
    replay("control_protocol", fuzz::control_protocol::run);
}

#[test]
fn keepalived_import_corpus() {
    replay("keepalived_import", fuzz::keepalived_import::run);
}

#[test]
fn node_corpus() {
    replay("node", fuzz::node::run);
}

#[test]
fn seeds_are_current() {
    let seeds = fuzz::seeds::all(root());
    let bless = std::env::var_os("VRRPD_BLESS").is_some();
    let mut stale = Vec::new();
    for seed in &seeds {
        let path = root()
            .join("fuzz/corpus")
            .join(seed.target)
            .join(&seed.name);
        if std::fs::read(&path).ok().as_deref() != Some(seed.bytes.as_slice()) {
            stale.push(path.display().to_string());
            if bless {
                std::fs::create_dir_all(path.parent().expect("corpus dir")).expect("mkdir");
                std::fs::write(&path, &seed.bytes).expect("write seed");
            }
        }
    }
    // A seed file that the generator no longer makes is stale too.
    for target in [
        "advert_decoder",
        "config_loader",
        "control_protocol",
        "keepalived_import",
        "node",
    ] {
        let directory = root().join("fuzz/corpus").join(target);
        for entry in std::fs::read_dir(&directory)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("seed-")
                && !seeds.iter().any(|s| s.target == target && s.name == name)
            {
                stale.push(entry.path().display().to_string());
                if bless {
                    std::fs::remove_file(entry.path()).expect("remove stale seed");
                }
            }
        }
    }
    if bless && !stale.is_empty() {
        panic!(
            "wrote {} seed files; review them and run again without VRRPD_BLESS",
            stale.len()
        );
    }
    assert!(
        stale.is_empty(),
        "seeds differ from fuzz/src/seeds.rs (VRRPD_BLESS=1 cargo test --test fuzz_corpora \
         seeds_are_current rewrites them): {stale:?}"
    );
}
