# Evaluates flake.nix's outputs against a mock nixpkgs (the real library, stub
# packages), and the VM test's load-balancer nodes through the flake's
# nixosModules.default, so the wiring is tested where the flake itself cannot be
# evaluated (no network, no flakes). Used by tests/nixos-module-eval.sh.
{ nixpkgsLib }:

let
  lib = import nixpkgsLib;
  stubs = import ./stubs.nix { inherit lib; };
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  mockPkgs =
    system:
    stubs.pkgs
    // {
      stdenv.hostPlatform.system = system;
      callPackage = file: _args: stubs.fakeDerivation "vrrpd-${system}" { file = toString file; };
      writeText = name: text: stubs.fakeDerivation name { inherit text; };
      mkShell = args: stubs.fakeDerivation "devshell" { inherit args; };
      testers.runNixOSTest = test: test;
      nixfmt-tree = stubs.fakeDerivation "nixfmt-tree" { };
    };

  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs systems mockPkgs;
    outPath = "/mock/nixpkgs";
  };

  self = (import ../../flake.nix).outputs { inherit self nixpkgs; } // {
    outPath = toString ../..;
  };

  vmTest = self.checks.x86_64-linux.vm-test;

  # Options the test framework provides to every node.
  testFrameworkOptions = {
    options = {
      virtualisation.vlans = lib.mkOption { type = lib.types.listOf lib.types.int; };
      networking.interfaces = lib.mkOption { type = lib.types.attrsOf lib.types.anything; };
      networking.primaryIPAddress = lib.mkOption { type = lib.types.str; };
    };
  };

  evalNode =
    name:
    let
      evaluated = lib.evalModules {
        modules = [
          stubs.nixosOptionsModule
          testFrameworkOptions
          {
            _module.args.pkgs = mockPkgs "x86_64-linux";
            # The test framework sets the host name to the node name.
            networking.hostName = name;
          }
          vmTest.nodes.${name}
        ];
      };
      inherit (evaluated) config;
    in
    {
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
      rendered = config.services.vrrp.renderedSettings;
      package = config.services.vrrp.package.name;
      inherit (config.systemd.services.vrrpd.serviceConfig) ExecStart LoadCredential WatchdogSec;
      ExecReload = map toString config.systemd.services.vrrpd.serviceConfig.ExecReload;
      firewall = {
        inherit (config.networking.firewall) extraCommands extraInputRules;
      };
      eth1 = config.networking.interfaces.eth1.ipv4.addresses;
      eth1v6 = config.networking.interfaces.eth1.ipv6.addresses;
    };
in
{
  outputs = lib.attrNames self;
  packages = lib.genAttrs systems (s: lib.attrNames self.packages.${s});
  checks = lib.genAttrs systems (s: lib.attrNames self.checks.${s});
  devShells = lib.genAttrs systems (s: lib.attrNames self.devShells.${s});
  formatter = lib.genAttrs systems (s: self.formatter.${s}.name);
  overlay = (self.overlays.default (mockPkgs "x86_64-linux") { }).vrrpd.file;
  vmTest = {
    inherit (vmTest) name;
    nodes = lib.attrNames vmTest.nodes;
    lb01 = evalNode "lb01";
    lb02 = evalNode "lb02";
  };
}
