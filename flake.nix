{
  description = "vrrpd: a VRRP daemon (RFC 3768, RFC 5798, RFC 9568) with a NixOS module";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        vrrpd = final.callPackage ./nix/package.nix { };
      };

      # The module itself (./nixos-module) takes `services.vrrp.package` from
      # `pkgs.vrrpd`; this wrapper defaults it to this flake's build (or builds
      # it with the machine's nixpkgs on other systems), so no overlay is needed.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-module ];
          services.vrrp.package = lib.mkDefault (
            self.packages.${pkgs.stdenv.hostPlatform.system}.default or (pkgs.callPackage ./nix/package.nix { })
          );
        };

      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };

        # The published JSON schema on its own (no Rust build): `nix build .#schema`.
        schema = pkgs.runCommand "vrrpd.schema.json" { nativeBuildInputs = [ pkgs.jq ]; } ''
          jq -e 'type == "object"' ${./schema/vrrpd.schema.json} > /dev/null
          cp ${./schema/vrrpd.schema.json} $out
        '';
      });

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
        in
        {
          package = self.packages.${system}.default;

          # tests/nixos-module-eval.sh against this flake's nixpkgs library.
          module-eval = pkgs.callPackage ./nix/module-eval-check.nix {
            src = self;
            nixpkgsLib = "${nixpkgs}/lib";
            vrrpd = self.packages.${system}.default;
          };

          # `nix-instantiate --parse` on every .nix file.
          nix-parse = pkgs.runCommand "vrrpd-nix-parse" { nativeBuildInputs = [ pkgs.nix ]; } ''
            export HOME=$TMPDIR NIX_STATE_DIR=$TMPDIR/nix-state NIX_LOG_DIR=$TMPDIR/nix-log
            bash ${self}/tests/nix-parse.sh > $out
          '';

          vm-test = import ./nix/vm-test.nix {
            inherit pkgs;
            nixosModule = self.nixosModules.default;
          };
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            iproute2
            iputils
            wireshark-cli # tshark
            keepalived
            jq
            nixfmt
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);
    };
}
