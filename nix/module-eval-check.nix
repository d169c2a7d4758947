# `nix flake check` wrapper around tests/nixos-module-eval.sh: evaluates the
# NixOS module with the library of the flake's nixpkgs, inside the sandbox.
{
  runCommand,
  nix,
  python3,
  jq,
  # `vrrpd check` on every rendered config.
  vrrpd,
  # The repository (the flake's `self`).
  src,
  # A nixpkgs `lib/` directory.
  nixpkgsLib,
}:

runCommand "vrrpd-nixos-module-eval"
  {
    nativeBuildInputs = [
      nix
      python3
      jq
      vrrpd
    ];
  }
  ''
    # A private Nix state, as nixpkgs' lib/tests/test-with-nix.nix does: the
    # test only evaluates (read-only), but nix wants writable state directories.
    export TEST_ROOT=$(pwd)/test-tmp
    export HOME=$(mktemp -d)
    export NIX_BUILD_HOOK=
    export NIX_CONF_DIR=$TEST_ROOT/etc
    export NIX_LOCALSTATE_DIR=$TEST_ROOT/var
    export NIX_LOG_DIR=$TEST_ROOT/var/log/nix
    export NIX_STATE_DIR=$TEST_ROOT/var/nix
    export NIX_STORE_DIR=$TEST_ROOT/store
    export PAGER=cat
    nix-store --init

    cp -r ${src} repo
    chmod -R u+w repo
    NIXPKGS_LIB=${nixpkgsLib} bash repo/tests/nixos-module-eval.sh > $out || { cat $out; exit 1; }
    cat $out
  ''
