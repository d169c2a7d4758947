# Evaluates nixos-module/ with lib.evalModules for one test case of cases.nix.
#
#   nix-instantiate --eval --strict --json tests/nix/eval-module.nix \
#     --arg nixpkgsLib "$NIXPKGS_LIB" --argstr case good.lb01 -A result
#
# `result` behaves like building a NixOS system: it throws "Failed assertions:"
# with every failed assertion's message, as nixos/modules/system/activation/top-level.nix
# does, and otherwise returns what the test compares.
{
  nixpkgsLib,
  case,
  hostJqPrefix ? null,
}:

let
  lib = import nixpkgsLib;
  stubs = import ./stubs.nix { inherit lib hostJqPrefix; };
  cases = import ./cases.nix { inherit lib; };

  path = lib.splitString "." case;
  selected =
    lib.attrByPath path (throw "tests/nix/cases.nix has no case ${case}") cases;

  evaluated = lib.evalModules {
    modules = [
      ../../nixos-module
      stubs.nixosOptionsModule
      { _module.args.pkgs = stubs.pkgs; }
      { services.vrrp.package = lib.mkDefault stubs.pkgs.vrrpd; }
    ]
    ++ selected.modules;
  };
  inherit (evaluated) config;

  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  service = config.systemd.services.vrrpd;
in
{
  inherit failedAssertions;

  result =
    if failedAssertions != [ ] then
      throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failedAssertions}"
    else
      {
        rendered = config.services.vrrp.renderedSettings;
        etcConfig = config.environment.etc."vrrpd/vrrpd.json".source.name;
        # The build-time `vrrpd check` (null when checkConfig is off).
        configCheck = config.services.vrrp.configFile.script or null;
        configCheckInputs = map (d: d.name) (
          config.services.vrrp.configFile.env.nativeBuildInputs or [ ]
        );
        inherit (service)
          wantedBy
          wants
          after
          serviceConfig
          ;
        reloadTriggers = map (d: d.name) service.reloadTriggers;
        # The secret-substitution script, if the module wrote one.
        prepareScript = lib.concatMapStrings (s: s.text) service.serviceConfig.ExecStartPre;
        # The reload's secret step (the first ExecReload command, when it is a script).
        reloadScript = lib.concatMapStrings (s: s.text or "") service.serviceConfig.ExecReload;
        inherit (service) description;
        path = map (p: p.name) service.path;
        meta = {
          inherit (config.meta) maintainers;
          # toString: the path itself, not a copy in the store.
          doc = map (d: d // { value = toString d.value; }) config.meta.doc;
        };
        firewall = {
          inherit (config.networking.firewall) extraCommands extraInputRules backend;
        };
        networkd = {
          inherit (config.systemd.network) enable networks;
          vrrpNetworks = config.services.vrrp.networkd.networks;
        };
        inherit (config) warnings;
      };
}
