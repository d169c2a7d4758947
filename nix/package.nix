# The vrrpd package: the daemon, its JSON schema and its systemd unit.
{
  lib,
  rustPlatform,
}:

let
  cargoToml = lib.importTOML ../Cargo.toml;
  root = ../.;

  # Only what the build and the tests read, so editing docs or Nix files does
  # not rebuild the daemon.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../src
      ../schema
      (lib.fileset.maybeMissing ../tests)
      (lib.fileset.maybeMissing ../examples)
      (lib.fileset.maybeMissing ../packaging)
      (lib.fileset.maybeMissing ../benches)
    ];
  };

  # Integration tests that need root and network namespaces (ip netns, veth,
  # raw sockets) cannot run in the build sandbox: tests/netns_*.rs and
  # tests/driver_io.rs. Every other tests/*.rs runs.
  needsRoot = name: lib.hasPrefix "netns_" name || name == "driver_io.rs";
  sandboxSafeTests = lib.optionals (builtins.pathExists ../tests) (
    map (lib.removeSuffix ".rs") (
      lib.filter (name: lib.hasSuffix ".rs" name && !needsRoot name) (
        lib.attrNames (
          lib.filterAttrs (_: kind: kind == "regular") (builtins.readDir ../tests)
        )
      )
    )
  );
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

  postInstall = ''
    install -Dm644 schema/vrrpd.schema.json $out/share/vrrpd/vrrpd.schema.json

    for example in examples/*.json; do
      [ -e "$example" ] || continue
      install -Dm644 -t $out/share/vrrpd/examples "$example"
    done

    # The distribution unit, with the binary path pointing into the store.
    if [ -f packaging/vrrpd.service ]; then
      install -Dm644 packaging/vrrpd.service $out/lib/systemd/system/vrrpd.service
      sed -E -i "s#(^Exec[A-Za-z]*=[-@:+!]*)(/[^ ]*/)?vrrpd( |$)#\1$out/bin/vrrpd\3#" \
        $out/lib/systemd/system/vrrpd.service
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
