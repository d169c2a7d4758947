# NixOS module `services.vrrp`: one VRRP instance shared by a group of nodes.
#
# Every node of the group imports the same `services.vrrp` settings; each one
# renders its own vrrpd JSON config, picking its entry in `nodes` by
# `networking.hostName`. The node with the highest priority is the MASTER
# (with preemption on, which is the default).
#
# The rendered JSON is validated at build time by `vrrpd check`, so a bad
# config fails `nixos-rebuild`, not the boot.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    attrNames
    concatMapStringsSep
    concatStringsSep
    filter
    literalExpression
    mapAttrsToList
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    mkPackageOption
    optional
    optionalAttrs
    optionalString
    recursiveUpdate
    stringLength
    types
    ;

  cfg = config.services.vrrp;

  jsonFormat = pkgs.formats.json { };

  schemaId = "https://vrrpd.dev/schema/vrrpd.schema.json";

  # The password stays out of the store: the rendered JSON carries this
  # placeholder and ExecStartPre swaps in the secret from the credential
  # directory. It is 8 bytes long so the placeholder config still passes
  # `vrrpd check` (a VRRPv2 simple-text password is at most 8 octets).
  passwordPlaceholder = "@SECRET@";
  passwordCredential = "vrrp-password";

  usesPasswordFile = cfg.authentication.passwordFile != null;
  usesPassword = cfg.authentication.password != null || usesPasswordFile;

  localNodeName = cfg.localNode;
  localNodeKnown = cfg.nodes ? ${localNodeName};
  localNode =
    cfg.nodes.${localNodeName} or (throw "services.vrrp: no entry for this host (${localNodeName}) in services.vrrp.nodes");

  renderedAuthentication =
    if usesPassword then
      {
        type = "pass";
        password = if usesPasswordFile then passwordPlaceholder else cfg.authentication.password;
      }
    else
      { type = "none"; };

  # Only what the options express; `instanceSettings` and `settings` go on top.
  # `preempt` is written only when it is off, because on is vrrpd's default.
  renderedInstance = {
    name = cfg.instanceName;
    inherit (cfg) interface version;
    virtual_router_id = cfg.virtualRouterId;
    inherit (localNode) priority;
    advert_interval_ms = cfg.advertIntervalMs;
    authentication = renderedAuthentication;
    virtual_addresses = cfg.virtualAddresses;
    garp_master_refresh_s = cfg.garpMasterRefreshSeconds;
  }
  // optionalAttrs (!cfg.preempt) { preempt = false; }
  // optionalAttrs (cfg.healthChecks != { }) {
    track = mapAttrsToList (name: check: {
      tracker = name;
      inherit (check) weight;
    }) cfg.healthChecks;
  }
  // optionalAttrs cfg.unicast {
    # Adverts go to the other nodes' addresses and are accepted only from them.
    unicast_source = localNode.address;
    unicast_peers = map (n: cfg.nodes.${n}.address) otherNodeNames;
  };

  # One top-level tracker per health check; the instance's `track` carries the weight.
  renderedTrackers = mapAttrsToList (name: check: {
    inherit name;
    inherit (check) check rise fall;
    interval_ms = check.intervalMs;
    timeout_ms = check.timeoutMs;
  }) cfg.healthChecks;

  renderedSettings = recursiveUpdate (
    {
      "$schema" = schemaId;
      instances = [ (recursiveUpdate renderedInstance cfg.instanceSettings) ];
    }
    // optionalAttrs (cfg.healthChecks != { }) { trackers = renderedTrackers; }
    // optionalAttrs (cfg.metricsListen != null) { metrics_listen = cfg.metricsListen; }
  ) cfg.settings;

  uncheckedConfigFile = jsonFormat.generate "vrrpd-unchecked.json" renderedSettings;

  checkedConfigFile =
    if cfg.checkConfig then
      pkgs.runCommand "vrrpd.json"
        {
          nativeBuildInputs = [ cfg.package ];
          preferLocalBuild = true;
        }
        ''
          vrrpd check --config ${uncheckedConfigFile}
          cp ${uncheckedConfigFile} $out
        ''
    else
      uncheckedConfigFile;

  # /etc/vrrpd/vrrpd.json keeps one path across generations, so a config change
  # reloads the daemon (SIGHUP) instead of restarting it: a restart would give
  # up MASTER for a moment, a reload keeps the VIP in place.
  etcConfigPath = "/etc/vrrpd/vrrpd.json";
  runtimeConfigPath = "/run/vrrpd/vrrpd.json";
  daemonConfigPath = if usesPasswordFile then runtimeConfigPath else etcConfigPath;

  # Writes the runtime config with the secret in place of the placeholder.
  # jq builds the JSON string, so quotes or backslashes in the secret are safe.
  # One trailing newline (as `echo` leaves) is not part of the password.
  prepareRuntimeConfig = pkgs.writeShellScript "vrrpd-prepare-config" ''
    set -euo pipefail
    umask 077
    ${pkgs.jq}/bin/jq \
      --rawfile secret "$CREDENTIALS_DIRECTORY/${passwordCredential}" \
      --arg placeholder ${lib.escapeShellArg passwordPlaceholder} \
      '.instances |= map(
         if .authentication.password? == $placeholder
         then .authentication.password = ($secret | rtrimstr("\n"))
         else . end)' \
      ${etcConfigPath} > ${runtimeConfigPath}.tmp
    mv ${runtimeConfigPath}.tmp ${runtimeConfigPath}
  '';

  # For the assertions below.
  nodeNames = attrNames cfg.nodes;
  otherNodeNames = filter (n: n != localNodeName) nodeNames;
  nodesWithoutAddress = filter (n: cfg.nodes.${n}.address == null) nodeNames;
  # "lb01 and lb02 (priority 100)" for every pair of nodes with the same priority.
  priorityClashes = lib.concatMap (
    a:
    map (b: "${a} and ${b} (priority ${toString cfg.nodes.${a}.priority})") (
      filter (b: a < b && cfg.nodes.${a}.priority == cfg.nodes.${b}.priority) nodeNames
    )
  ) nodeNames;

  nodesWithBadPriority = filter (
    n: cfg.nodes.${n}.priority < 1 || cfg.nodes.${n}.priority > 255
  ) nodeNames;

  advertIntervalProblem =
    let
      ms = cfg.advertIntervalMs;
    in
    if cfg.version == 2 then
      optionalString (ms < 1000 || ms > 255000 || lib.mod ms 1000 != 0)
        "services.vrrp.advertIntervalMs is ${toString ms}, but VRRPv2 carries the interval in whole seconds in one octet (RFC 3768 §5.3): use a multiple of 1000 between 1000 and 255000."
    else
      optionalString (ms < 10 || ms > 40950 || lib.mod ms 10 != 0)
        "services.vrrp.advertIntervalMs is ${toString ms}, but VRRPv3 carries the interval in centiseconds in 12 bits (RFC 5798 §5.2): use a multiple of 10 between 10 and 40950.";

  vrrpAssertions = [
    {
      assertion = localNodeKnown;
      message = "services.vrrp.nodes has no entry for this host: services.vrrp.localNode (by default networking.hostName) is \"${localNodeName}\", the nodes are: ${concatStringsSep ", " nodeNames}. Add services.vrrp.nodes.\"${localNodeName}\" or fix networking.hostName.";
    }
    {
      assertion = priorityClashes == [ ];
      message = "services.vrrp.nodes: ${concatStringsSep "; " priorityClashes} share a priority. Give every node its own priority so the MASTER is the node you chose (on a tie VRRP falls back to comparing IP addresses).";
    }
    {
      assertion = nodesWithBadPriority == [ ];
      message = "services.vrrp.nodes: priority must be between 1 and 255 (0 is reserved for a master that leaves, RFC 5798 §5.2.4); ${
        concatMapStringsSep ", " (n: "${n} has ${toString cfg.nodes.${n}.priority}") nodesWithBadPriority
      }.";
    }
    {
      assertion = cfg.virtualRouterId >= 1 && cfg.virtualRouterId <= 255;
      message = "services.vrrp.virtualRouterId is ${toString cfg.virtualRouterId}, but a VRID must be between 1 and 255 (RFC 5798 §5.2.3).";
    }
    {
      assertion = cfg.virtualAddresses != [ ];
      message = "services.vrrp.virtualAddresses is empty: list at least one address for the MASTER to hold, e.g. [ \"192.168.0.40\" ].";
    }
    {
      assertion = cfg.interface != "";
      message = "services.vrrp.interface is empty: name the interface that carries the virtual addresses, e.g. \"eth0\".";
    }
    {
      assertion = !(usesPassword && cfg.version == 3);
      message = "services.vrrp.authentication is set, but version is 3: VRRPv3 (RFC 5798) has no authentication. Use version = 2 (keepalived's auth_type PASS) or drop the password.";
    }
    {
      assertion = !(cfg.authentication.password != null && usesPasswordFile);
      message = "services.vrrp.authentication: set either password or passwordFile, not both.";
    }
    {
      assertion = cfg.authentication.password == null || stringLength cfg.authentication.password <= 8;
      message = "services.vrrp.authentication.password is longer than 8 bytes: the VRRPv2 simple-text password field is 8 octets (keepalived silently cuts longer ones).";
    }
    {
      assertion = !usesPasswordFile || lib.hasPrefix "/" cfg.authentication.passwordFile;
      message = "services.vrrp.authentication.passwordFile must be an absolute path given as a string (\"/run/secrets/vrrp\"), not a Nix path, which would copy the secret into the world-readable store.";
    }
    {
      assertion = advertIntervalProblem == "";
      message = advertIntervalProblem;
    }
    {
      assertion = cfg.garpMasterRefreshSeconds >= 0;
      message = "services.vrrp.garpMasterRefreshSeconds must be 0 (off) or a positive number of seconds.";
    }
    {
      assertion = !cfg.unicast || nodesWithoutAddress == [ ];
      message = "services.vrrp.unicast is on, but ${concatStringsSep ", " nodesWithoutAddress} ${
        if lib.length nodesWithoutAddress == 1 then "has" else "have"
      } no address: in unicast mode every node's services.vrrp.nodes.<name>.address is where the others send their advertisements.";
    }
    {
      assertion = !cfg.unicast || otherNodeNames != [ ];
      message = "services.vrrp.unicast is on, but services.vrrp.nodes lists no node besides this one (${localNodeName}) to send advertisements to.";
    }
    {
      assertion = cfg.watchdogSec >= 0;
      message = "services.vrrp.watchdogSec must be 0 (off) or a positive number of seconds.";
    }
  ];

  healthCheckModule =
    { name, ... }:
    {
      options = {
        check = mkOption {
          type = jsonFormat.type;
          example = literalExpression ''
            {
              type = "http";
              url = "https://127.0.0.1:443/";
              server_name = "www.example.org";
              verify_tls = false;
            }
          '';
          description = ''
            What health check `${name}` runs, as the `check` object of a vrrpd
            tracker: `{ type = "http"; url = ...; }`, `"tcp"` (`address`),
            `"exec"` (`command`), `"interface"` (`interface`) or `"file"`
            (`path`). See docs/health-checks.md.
          '';
        };
        weight = mkOption {
          type = types.int;
          default = 0;
          example = -60;
          description = ''
            -254 to 254. 0: the node goes to FAULT (gives up the addresses)
            while the check fails. Negative: added to the priority while it
            fails; positive: added while it passes (keepalived `weight`).
          '';
        };
        intervalMs = mkOption {
          type = types.int;
          default = 1000;
          description = "Milliseconds between two checks (100 to 3600000).";
        };
        timeoutMs = mkOption {
          type = types.int;
          default = 1000;
          description = "Milliseconds a check may take before it counts as failed (and an exec check is killed).";
        };
        rise = mkOption {
          type = types.int;
          default = 1;
          example = 2;
          description = "Successes in a row before the check counts as healthy again.";
        };
        fall = mkOption {
          type = types.int;
          default = 1;
          example = 3;
          description = "Failures in a row before the check counts as failed.";
        };
      };
    };

  nodeModule =
    { name, ... }:
    {
      options = {
        priority = mkOption {
          type = types.int;
          example = 150;
          description = ''
            VRRP priority of node `${name}`, 1 to 255. The node with the highest
            priority becomes MASTER; every node must have its own priority.
            255 is reserved by RFC 5798 for the owner of the virtual addresses.
          '';
        };
        address = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "192.168.0.41";
          description = ''
            The node's own primary address on {option}`services.vrrp.interface`.
            With {option}`services.vrrp.unicast` on, it is where the other nodes
            send their advertisements (and this node's source address); otherwise
            it only documents the configuration, since vrrpd then sends from the
            interface's primary address.
          '';
        };
      };
    };
in
{
  options.services.vrrp = {
    enable = mkEnableOption "the vrrpd VRRP daemon (a keepalived replacement for virtual IP failover)";

    package = mkPackageOption pkgs "vrrpd" { };

    localNode = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
      example = "lb01";
      description = ''
        Which entry of {option}`services.vrrp.nodes` is this machine. The
        default lets every node of the group share one `services.vrrp` block.
      '';
    };

    nodes = mkOption {
      type = types.attrsOf (types.submodule nodeModule);
      default = { };
      example = literalExpression ''
        {
          lb01 = { address = "192.168.0.41"; priority = 150; };
          lb02 = { address = "192.168.0.42"; priority = 100; };
        }
      '';
      description = ''
        The nodes that share the virtual addresses, by host name. The local
        node's priority goes into the rendered config; the node with the
        highest priority is the MASTER.
      '';
    };

    instanceName = mkOption {
      type = types.str;
      default = "VI_1";
      example = "frontend";
      description = ''
        Name of the VRRP instance in logs and in the config (keepalived's
        `vrrp_instance` name).
      '';
    };

    interface = mkOption {
      type = types.str;
      example = "eth0";
      description = "Interface that sends the advertisements and holds the virtual addresses.";
    };

    virtualRouterId = mkOption {
      type = types.int;
      example = 50;
      description = ''
        Virtual router ID (VRID), 1 to 255. All nodes of the group use the
        same one; it must be unique on the link.
      '';
    };

    virtualAddresses = mkOption {
      type = types.listOf types.str;
      example = [
        "192.168.0.40"
        "192.168.0.50/24"
      ];
      description = ''
        Addresses the MASTER holds, with an optional prefix length (/32 or
        /128 without one). One address family per instance.
      '';
    };

    version = mkOption {
      type = types.enum [
        2
        3
      ];
      default = 2;
      example = 3;
      description = ''
        VRRP version. The default 2 (RFC 3768) is what keepalived speaks by
        default, so vrrpd and keepalived nodes interoperate during a
        migration, and it is the only version with a password. Use 3
        (RFC 5798/9568) for IPv6 or sub-second advertisement intervals.
      '';
    };

    advertIntervalMs = mkOption {
      type = types.int;
      default = 1000;
      example = 200;
      description = ''
        Advertisement interval in milliseconds (keepalived `advert_int` × 1000).
        VRRPv2 needs whole seconds (1000 to 255000); VRRPv3 takes multiples
        of 10 ms up to 40950. A backup takes over after about three intervals.
      '';
    };

    preempt = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        Whether a higher-priority node takes MASTER back from a lower one when
        it returns. Written into the config only when off (keepalived
        `nopreempt`), because on is vrrpd's default.
      '';
    };

    authentication = {
      password = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "password";
        description = ''
          VRRPv2 simple-text password (keepalived `auth_type PASS`), at most
          8 bytes. It ends up in the world-readable Nix store; it travels in
          clear text on the wire anyway, but prefer
          {option}`services.vrrp.authentication.passwordFile`.
        '';
      };
      passwordFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/vrrp-password";
        description = ''
          File holding the VRRPv2 simple-text password (one trailing newline is
          ignored), read at start and at reload through systemd's
          `LoadCredential=`, so the secret never enters the Nix store. Give an
          absolute path as a string. The config in the store carries a
          placeholder; the daemon reads a copy with the secret from
          `/run/vrrpd/vrrpd.json`. After changing the file's content, run
          `systemctl reload vrrpd`.
        '';
      };
    };

    garpMasterRefreshSeconds = mkOption {
      type = types.int;
      default = 0;
      example = 60;
      description = ''
        While MASTER, repeat gratuitous ARP for the virtual addresses every
        this many seconds (keepalived `vrrp_garp_master_refresh`); 0 turns it
        off. Keeps switches' and neighbours' caches right after a split brain.
      '';
    };

    healthChecks = mkOption {
      type = types.attrsOf (types.submodule healthCheckModule);
      default = { };
      example = literalExpression ''
        {
          caddy = {
            check = {
              type = "http";
              url = "https://127.0.0.1:443/";
              server_name = "www.example.org";
              verify_tls = false;
            };
            rise = 2;
            fall = 3;
            weight = -60;
          };
        }
      '';
      description = ''
        Health checks the instance follows, by name (vrrpd `trackers` plus the
        instance's `track` entries; keepalived `vrrp_script` and
        `track_script`). With a negative weight larger than the gap between
        the nodes' priorities, a node whose service fails hands the virtual
        addresses to a healthy peer.
      '';
    };

    metricsListen = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "127.0.0.1:9650";
      description = ''
        Serve Prometheus metrics at `http://ADDRESS/metrics` (vrrpd
        `metrics_listen`); `null` turns the endpoint off. It has no
        authentication: keep it on loopback or a management network.
      '';
    };

    unicast = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Send advertisements to the other nodes' {option}`services.vrrp.nodes.<name>.address`
        instead of the multicast group 224.0.0.18, and accept them only from those
        addresses (vrrpd `unicast_peers`, keepalived `unicast_peer`), for networks
        that filter multicast. The local node's address becomes the source
        (`unicast_source`). Every node needs an `address`. IPv4 only.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Accept VRRP (IP protocol 112) on {option}`services.vrrp.interface` in
        the NixOS firewall, for both the iptables and the nftables backend.
        Without it the firewall drops the peers' advertisements and every node
        becomes MASTER (split brain).
      '';
    };

    watchdogSec = mkOption {
      type = types.int;
      default = 10;
      example = 5;
      description = ''
        systemd watchdog timeout in seconds (`WatchdogSec=`): vrrpd pings every
        half of it, and systemd restarts a daemon that stops pinging. 0 turns
        the watchdog off.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        Validate the rendered config with `vrrpd check` at build time, so a bad
        config fails the rebuild. Turn off only when cross-compiling, where the
        build machine cannot run the target's vrrpd.
      '';
    };

    instanceSettings = mkOption {
      type = types.submodule { freeformType = jsonFormat.type; };
      default = { };
      example = literalExpression ''
        {
          preempt_delay_s = 30;
          garp_burst_count = 3;
        }
      '';
      description = ''
        Extra keys of the instance object, merged (recursively) over what the
        options above render, for every instance field of the schema
        (`share/vrrpd/vrrpd.schema.json` in the package) without an option here.
      '';
    };

    settings = mkOption {
      type = types.submodule { freeformType = jsonFormat.type; };
      default = { };
      example = literalExpression ''
        {
          instances = [
            { name = "VI_1"; interface = "eth0"; virtual_router_id = 50;
              priority = 150; virtual_addresses = [ "192.168.0.40" ]; }
          ];
        }
      '';
      description = ''
        Freeform top-level config, merged over the rendered config with
        `lib.recursiveUpdate`: top-level keys are merged, and a list given here
        (such as `instances`) replaces the rendered one entirely. The result is
        still checked by `vrrpd check` at build time.
      '';
    };

    renderedSettings = mkOption {
      type = jsonFormat.type;
      readOnly = true;
      description = "The config this node renders, as a Nix value (for inspection and tests).";
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      description = "The rendered config in the store, checked by `vrrpd check` when {option}`services.vrrp.checkConfig` is on.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = vrrpAssertions;

      services.vrrp = {
        inherit renderedSettings;
        configFile = checkedConfigFile;
      };

      environment.etc."vrrpd/vrrpd.json".source = checkedConfigFile;

      systemd.services.vrrpd = {
        description = "vrrpd VRRP daemon (${cfg.instanceName}, VRID ${toString cfg.virtualRouterId})";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        # A changed config reloads the daemon (SIGHUP) rather than restarting it.
        reloadTriggers = [ checkedConfigFile ];

        serviceConfig = {
          Type = "notify";
          NotifyAccess = "main";
          WatchdogSec = toString cfg.watchdogSec;
          ExecStartPre = optional usesPasswordFile prepareRuntimeConfig;
          ExecStart = "${cfg.package}/bin/vrrpd run --config ${daemonConfigPath}";
          ExecReload = optional usesPasswordFile prepareRuntimeConfig ++ [
            "${pkgs.coreutils}/bin/kill -HUP $MAINPID"
          ];
          Restart = "on-failure";
          RestartSec = "2s";
          LoadCredential = optional usesPasswordFile "${passwordCredential}:${cfg.authentication.passwordFile}";

          # Unprivileged: raw sockets for protocol 112 and ARP need CAP_NET_RAW,
          # adding and removing the virtual addresses needs CAP_NET_ADMIN.
          DynamicUser = true;
          AmbientCapabilities = [
            "CAP_NET_ADMIN"
            "CAP_NET_RAW"
          ];
          CapabilityBoundingSet = [
            "CAP_NET_ADMIN"
            "CAP_NET_RAW"
          ];
          RestrictAddressFamilies = [
            "AF_NETLINK"
            "AF_INET"
            "AF_INET6"
            "AF_PACKET"
            "AF_UNIX"
          ];
          RuntimeDirectory = "vrrpd";
          RuntimeDirectoryMode = "0700";
          StateDirectory = "vrrpd";
          StateDirectoryMode = "0700";
          UMask = "0077";

          NoNewPrivileges = true;
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          PrivateDevices = true;
          DevicePolicy = "closed";
          PrivateTmp = true;
          ProtectClock = true;
          ProtectControlGroups = true;
          ProtectHome = true;
          ProtectHostname = true;
          ProtectKernelLogs = true;
          ProtectKernelModules = true;
          ProtectKernelTunables = true;
          ProtectProc = "invisible";
          ProtectSystem = "strict";
          RemoveIPC = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "~@privileged"
            "~@resources"
          ];
          SystemCallErrorNumber = "EPERM";
        };
      };
    }

    (mkIf (cfg.openFirewall && !config.networking.nftables.enable) {
      # Runs just before the firewall's final refuse rule; the chain is
      # flushed on every firewall (re)start, so no stop command is needed.
      networking.firewall.extraCommands = ''
        ip46tables -A nixos-fw -i ${lib.escapeShellArg cfg.interface} -p 112 -j nixos-fw-accept
      '';
    })

    (mkIf (cfg.openFirewall && config.networking.nftables.enable) {
      networking.firewall.extraInputRules = ''
        iifname "${cfg.interface}" meta l4proto 112 accept comment "VRRP (services.vrrp)"
      '';
    })
  ]);
}
