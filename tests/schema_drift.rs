//! The committed schema must be exactly what the types generate.
//!
//! Regenerate with `cargo run -- schema > schema/vrrpd.schema.json`, or without the CLI
//! with `VRRPD_BLESS=1 cargo test --test schema_drift`.

use std::path::Path;

#[test]
fn committed_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(vrrpd::config::SCHEMA_PATH);
    let generated = vrrpd::config::schema_text();
    if std::env::var_os("VRRPD_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the schema");
        // Writing the file checks nothing, so this run must not count as a pass.
        panic!(
            "VRRPD_BLESS=1: wrote {}; review the diff, commit it, and rerun without \
             VRRPD_BLESS to check it (a bless run never passes)",
            path.display()
        );
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the schema generated from src/config (or is missing).\n\
         Regenerate it with `cargo run -- schema > {}`\n\
         or `VRRPD_BLESS=1 cargo test --test schema_drift`, review the diff, and commit it.",
        path.display(),
        vrrpd::config::SCHEMA_PATH,
    );
}

#[test]
fn schema_text_is_pretty_json_with_a_trailing_newline() {
    let text = vrrpd::config::schema_text();
    assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
    let reparsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(reparsed, vrrpd::config::schema());
    assert!(
        text.contains("\n  \"$id\""),
        "pretty-printed with two-space indentation"
    );
}

/// Configs are validated against the schema embedded at build time
/// ([`vrrpd::config::SCHEMA_TEXT`]), not against the types: it must be the one they
/// generate, or a config the documentation allows could be rejected (or the reverse).
#[test]
fn configs_are_validated_against_the_schema_the_types_generate() {
    assert!(
        vrrpd::config::SCHEMA_TEXT == vrrpd::config::schema_text(),
        "the embedded schema differs from the one generated from src/config; regenerate \
         {} (see committed_schema_matches_the_types)",
        vrrpd::config::SCHEMA_PATH
    );
}
