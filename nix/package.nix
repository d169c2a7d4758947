# The vrrpd package: the daemon, its JSON schema and its systemd unit.
{
  lib,
  rustPlatform,
  coreutils,
  openssl,
}:

let
  cargoToml = lib.importTOML ../Cargo.toml;
  root = ../.;

  # Only what the build and the tests read, so editing the README or the Nix
  # files does not rebuild the daemon. docs/ is read by tests
  # (tests/schema_descriptions.rs checks docs/configuration.md against the
  # schema). tests/source-set-check.sh copies exactly this set and runs the
  # check phase on it, so a file missing here fails CI, not `nix build`.
  sourceFileset = lib.fileset.unions [
    ../Cargo.toml
    ../Cargo.lock
    ../build.rs
    ../src
    ../schema
    ../docs
    (lib.fileset.maybeMissing ../tests)
    (lib.fileset.maybeMissing ../examples)
    (lib.fileset.maybeMissing ../packaging)
    (lib.fileset.maybeMissing ../benches)
    # tests/fuzz_corpora.rs replays the fuzz corpora with the fuzz targets' checks;
    # the fuzz crate itself (fuzz/Cargo.toml, nightly) is not built here.
    (lib.fileset.maybeMissing ../fuzz/src)
    (lib.fileset.maybeMissing ../fuzz/corpus)
    (lib.fileset.maybeMissing ../fuzz/seeds)
  ];
  src = lib.fileset.toSource {
    inherit root;
    fileset = sourceFileset;
  };

  # Integration tests that need root and network namespaces (ip netns, veth,
  # raw sockets) cannot run in the build sandbox: tests/netns_*.rs and
  # tests/driver_io.rs. Every other tests/*.rs runs.
  needsRoot = name: lib.hasPrefix "netns_" name || name == "driver_io.rs";
  testFiles = lib.optionals (builtins.pathExists ../tests) (
    lib.filter (lib.hasSuffix ".rs") (
      lib.attrNames (lib.filterAttrs (_: kind: kind == "regular") (builtins.readDir ../tests))
    )
  );
  sandboxSafeTests = map (lib.removeSuffix ".rs") (lib.filter (name: !needsRoot name) testFiles);
  excludedTests = map (lib.removeSuffix ".rs") (lib.filter needsRoot testFiles);
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  inherit (cargoToml.package) version;
  inherit src;

  cargoLock.lockFile = ../Cargo.lock;

  # Unit tests of the library and the binary, plus the integration tests that
  # work unprivileged. Unit tests that need root skip themselves when not root
  # (the sandbox's build user is not).
  cargoTestFlags = [
    "--lib"
    "--bins"
  ]
  ++ lib.concatMap (name: [
    "--test"
    name
  ]) sandboxSafeTests;

  # The HTTPS check's private-CA test makes its CA and certificate with the
  # openssl command (driver::checks, `https_checks_against_a_private_ca`).
  nativeCheckInputs = [ openssl ];

  # Tests that need root or network namespaces and are in the targets above
  # skip themselves here, printing "SKIPPED <test>: <reason>"; without this
  # variable they fail when not root, so CI (root) never skips them silently.
  env.VRRPD_TEST_SANDBOX = "1";

  postInstall = ''
    install -Dm644 schema/vrrpd.schema.json $out/share/vrrpd/vrrpd.schema.json

    for example in examples/*.json; do
      [ -e "$example" ] || continue
      install -Dm644 -t $out/share/vrrpd/examples "$example"
    done

    # The distribution unit, with every command pointing into the store:
    # NixOS has neither /usr/bin/vrrpd nor /bin/kill.
    if [ -f packaging/vrrpd.service ]; then
      install -Dm644 packaging/vrrpd.service $out/lib/systemd/system/vrrpd.service
      sed -E -i \
        -e "s#(^Exec[A-Za-z]*=[-@:+!]*)(/[^ ]*/)?vrrpd( |$)#\1$out/bin/vrrpd\3#" \
        -e "s#(^Exec[A-Za-z]*=[-@:+!]*)(/[^ ]*/)?kill( |$)#\1${coreutils}/bin/kill\3#" \
        $out/lib/systemd/system/vrrpd.service
      # Any other command would still name a path that NixOS does not have.
      if grep -E '^Exec[A-Za-z]*=' $out/lib/systemd/system/vrrpd.service |
        grep -vE "^Exec[A-Za-z]*=[-@:+!]*(/nix/store/|$out/)"; then
        echo "packaging/vrrpd.service: the Exec lines above do not point into the store" >&2
        exit 1
      fi
    fi
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    $out/bin/vrrpd --help > /dev/null
    for example in $out/share/vrrpd/examples/*.json; do
      [ -e "$example" ] || continue
      $out/bin/vrrpd check --config "$example"
    done
    runHook postInstallCheck
  '';

  passthru = {
    # For tests/nix/package-source.nix.
    inherit sourceFileset excludedTests;
  };

  meta = {
    inherit (cargoToml.package) description;
    homepage = cargoToml.package.repository;
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "vrrpd";
    platforms = lib.platforms.linux;
  };
}
