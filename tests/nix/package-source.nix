# What nix/package.nix builds from and how its check phase runs, evaluated with
# the real nixpkgs library and a stand-in for rustPlatform. Used by
# tests/source-set-check.sh, which copies exactly these files and runs the
# check-phase command on them.
#
#   nix-instantiate --eval --strict --json tests/nix/package-source.nix \
#     --arg nixpkgsLib "$NIXPKGS_LIB"
#
# Nix older than 2.14 has no builtins.readFileType, which lib.fileset needs
# (lib.filesystem.pathType). There the same answer is derived from
# builtins.readDir of the parent directory; nothing else in lib.fileset is
# replaced, so the file list is the one lib.fileset.toSource copies.
{ nixpkgsLib }:

let
  upstreamLib = import nixpkgsLib;
  lib =
    if builtins ? readFileType then
      upstreamLib
    else
      upstreamLib.extend (
        _final: prev: {
          filesystem = prev.filesystem // {
            pathType =
              path:
              if dirOf path == path then
                "directory"
              else
                (builtins.readDir (dirOf path)).${baseNameOf path}
                  or (throw "lib.filesystem.pathType: ${toString path} does not exist");
          };
        }
      );

  root = ../..;

  # buildRustPackage's arguments, as the package passes them.
  args = import ../../nix/package.nix {
    inherit lib;
    rustPlatform.buildRustPackage = args: args;
    # A store path, so the installed unit's commands can be checked for one.
    coreutils.outPath = "/nix/store/00000000000000000000000000000000-coreutils";
    # The check inputs are only listed here; the check phase below runs with the host's.
    openssl.outPath = "/nix/store/00000000000000000000000000000000-openssl";
  };

  relative = path: lib.removePrefix "${toString root}/" (toString path);
in
{
  files = map relative (lib.fileset.toList args.passthru.sourceFileset);
  inherit (args) cargoTestFlags;
  checkFlags = args.checkFlags or [ ];
  env = args.env or { };
  # The test binaries the package leaves out, with the reason it gives.
  excludedTests = args.passthru.excludedTests;
  inherit (args) postInstall;
  readFileTypePolyfilled = !(builtins ? readFileType);
}
