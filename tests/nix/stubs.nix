# Minimal stand-ins for the parts of NixOS and nixpkgs that nixos-module/ touches,
# so the module can be evaluated with nothing but the nixpkgs library
# (lib.evalModules). The stubs declare the options with the same types NixOS
# uses where it matters for merging, and fake derivations where the real thing
# would need a build.
{
  lib,
  # A directory with bin/jq on this machine, so the evaluation test can run the
  # module's secret-substitution script for real; null when there is none.
  hostJqPrefix ? null,
}:

let
  inherit (lib) mkOption types;

  fakeDerivation =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
    }
    // extra;

  # Same shape as nixpkgs' pkgs.formats.json: any JSON value.
  jsonValue = types.nullOr (
    types.oneOf [
      types.bool
      types.int
      types.float
      types.str
      types.path
      (types.attrsOf jsonValue)
      (types.listOf jsonValue)
    ]
  )
  // {
    description = "JSON value";
  };

  pkgs = {
    formats.json =
      { }:
      {
        type = jsonValue;
        generate = name: value: fakeDerivation name { json = builtins.toJSON value; };
      };

    # `text` is kept so the test can run the scripts the module writes.
    runCommand =
      name: env: script:
      fakeDerivation name { inherit env script; };
    writeShellScript = name: text: fakeDerivation name { inherit text; };

    jq =
      if hostJqPrefix == null then fakeDerivation "jq" { } else { outPath = hostJqPrefix; } // { type = "derivation"; name = "jq"; };
    coreutils = fakeDerivation "coreutils" { };
    fakePackage = name: fakeDerivation name { };
    vrrpd = fakeDerivation "vrrpd-0.1.0" { };
  };

  # The NixOS options the module defines values for.
  nixosOptionsModule =
    { config, ... }:
    {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      networking.hostName = mkOption {
        type = types.str;
        default = "nixos";
      };
      networking.nftables.enable = mkOption {
        type = types.bool;
        default = false;
      };
      services.firewalld.enable = mkOption {
        type = types.bool;
        default = false;
      };
      # NixOS 25.11's option and default (nixos/modules/services/networking/firewall.nix).
      networking.firewall.backend = mkOption {
        type = types.enum [
          "iptables"
          "nftables"
          "firewalld"
        ];
        default =
          if config.services.firewalld.enable then
            "firewalld"
          else if config.networking.nftables.enable then
            "nftables"
          else
            "iptables";
      };
      # As nixos/modules/misc/meta.nix and modules/generic/meta-maintainers.nix
      # declare them: maintainers must be members of lib.maintainers, doc is a
      # path (one per module file).
      meta.maintainers = mkOption {
        type = types.listOf (
          lib.mkOptionType {
            name = "maintainer";
            check = m: lib.elem m (lib.attrValues lib.maintainers);
          }
        );
        default = [ ];
      };
      meta.doc = mkOption {
        type = types.path // {
          merge = _loc: defs: defs;
        };
      };
      # NixOS's options and defaults (nixos/modules/services/networking/firewall.nix).
      networking.firewall.enable = mkOption {
        type = types.bool;
        default = true;
      };
      networking.firewall.checkReversePath = mkOption {
        type = types.either types.bool (
          types.enum [
            "strict"
            "loose"
          ]
        );
        default = true;
      };
      networking.firewall.extraCommands = mkOption {
        type = types.lines;
        default = "";
      };
      networking.firewall.extraInputRules = mkOption {
        type = types.lines;
        default = "";
      };
      environment.etc = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      # systemd-networkd (nixos/modules/system/boot/networkd.nix): each entry is a
      # submodule there (matchConfig, networkConfig, name, …); merged the same way here.
      systemd.network.enable = mkOption {
        type = types.bool;
        default = config.networking.useNetworkd;
      };
      systemd.network.networks = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      networking.useNetworkd = mkOption {
        type = types.bool;
        default = false;
      };
      networking.interfaces = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };
  };
in
{
  inherit pkgs nixosOptionsModule fakeDerivation;
}
