# NixOS module `services.vrrp`: VRRP instances shared by a group of nodes.
#
# Every node of the group imports the same `services.vrrp` settings; each one
# renders its own vrrpd JSON config, picking its entry in `nodes` by
# `networking.hostName`. The node with the highest priority is the MASTER
# (with preemption on, which is the default).
#
# The short form (`virtualRouterId`, `virtualAddresses`, ... at the top level)
# renders one instance, named `instanceName`. `instances.<name>` renders
# several (dual stack needs one per address family; a public and an internal
# VIP are two, often in a `syncGroups` entry); they take the top-level options
# (interface, version, interval, authentication, unicast, health checks) as
# their defaults and share `nodes` and its priorities.
#
# The rendered JSON is validated at build time by `vrrpd check`, so a bad
# config fails `nixos-rebuild`, not the boot.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    attrNames
    concatMap
    concatMapStringsSep
    concatStringsSep
    filter
    hasInfix
    length
    literalExpression
    mapAttrs
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
    unique
    ;

  cfg = config.services.vrrp;

  jsonFormat = pkgs.formats.json { };

  schemaId = "https://vrrpd.dev/schema/vrrpd.schema.json";
  docs = "https://github.com/vrrpd/vrrpd/blob/main/docs";

  # The password stays out of the store: the rendered JSON carries this
  # placeholder and ExecStartPre swaps in the secret from the credential
  # directory. It is 8 bytes long so the placeholder config still passes
  # `vrrpd check` (a VRRPv2 simple-text password is at most 8 octets).
  passwordPlaceholder = "@SECRET@";
  passwordCredential = "vrrp-password";

  usesPasswordFile = cfg.authentication.passwordFile != null;
  realtime = cfg.realtimePriority != null;
  usesPassword = cfg.authentication.password != null || usesPasswordFile;

  localNodeName = cfg.localNode;
  localNodeKnown = cfg.nodes ? ${localNodeName};
  localNode =
    cfg.nodes.${localNodeName} or (throw "services.vrrp: no entry for this host (${localNodeName}) in services.vrrp.nodes");

  nodeNames = attrNames cfg.nodes;
  otherNodeNames = filter (n: n != localNodeName) nodeNames;

  # The defaults of version and interval: VRRPv3 at 100 ms when every node runs
  # vrrpd (the module's nodes always do), keepalived's VRRPv2 at 1 s with the
  # keepalived preset (a group that still has keepalived nodes).
  fastDefaults = cfg.preset == "vrrpd";
  defaultVersion = if fastDefaults then 3 else 2;
  defaultIntervalFor = version: if fastDefaults && version == 3 then 100 else 1000;

  renderedAuthentication =
    if usesPassword then
      {
        type = "pass";
        password = if usesPasswordFile then passwordPlaceholder else cfg.authentication.password;
      }
    else
      { type = "none"; };

  # The short form as an instance: the same fields as `instances.<name>`.
  shortFormInstance = {
    name = cfg.instanceName;
    optionPath = "services.vrrp";
    inherit (cfg)
      interface
      virtualRouterId
      virtualAddresses
      useVirtualMac
      version
      advertIntervalMs
      preempt
      garpMasterRefreshSeconds
      unicast
      notify
      ;
    priorities = { };
    track = mapAttrs (_: check: check.weight) cfg.healthChecks;
    settings = { };
  };

  instanceList =
    if cfg.instances == { } then
      [ shortFormInstance ]
    else
      mapAttrsToList (name: inst: inst // { optionPath = "services.vrrp.instances.${name}"; }) cfg.instances;

  addressType = types.either types.str (
    types.submodule {
      options = {
        address = mkOption {
          type = types.str;
          example = "198.51.100.7/24";
          description = "The address, with an optional prefix length.";
        };
        interface = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "eth1";
          description = "The interface it lives on; null: the instance's own.";
        };
        track = mkOption {
          type = types.bool;
          default = true;
          description = "Whether the instance is in FAULT while that interface is down or missing.";
        };
      };
    }
  );

  # A virtual address is a string, or { address; interface; track; } for one that lives
  # on another interface (vrrpd's object form).
  addressText = entry: if lib.isString entry then entry else entry.address;
  addressTexts = inst: map addressText inst.virtualAddresses;
  renderAddress =
    entry:
    if lib.isString entry then
      entry
    else
      { inherit (entry) address; }
      // optionalAttrs (entry.interface != null) { inherit (entry) interface; }
      // optionalAttrs (!entry.track) { track = false; };

  familyOf = inst: if lib.all (hasInfix ":") (addressTexts inst) then 6 else 4;
  mixedFamilies =
    inst: lib.any (hasInfix ":") (addressTexts inst) && !(lib.all (hasInfix ":") (addressTexts inst));

  priorityOf = inst: node: inst.priorities.${node} or cfg.nodes.${node}.priority;

  # Unicast: IPv4 instances use `address`, IPv6 instances `address6`, so a dual-stack
  # group in unicast mode gives every node both.
  unicastAddressOption = inst: if familyOf inst == 6 then "address6" else "address";
  unicastAddressOf = inst: node: cfg.nodes.${node}.${unicastAddressOption inst};

  # Only what the options express; `instanceSettings` and the instance's
  # `settings` go on top. `preempt` is written only when it is off, because on
  # is vrrpd's default.
  renderInstance =
    inst:
    let
      base = {
        inherit (inst) name interface version;
        virtual_router_id = inst.virtualRouterId;
        priority = priorityOf inst localNodeName;
        advert_interval_ms = inst.advertIntervalMs;
        # The password is VRRPv2's; VRRPv3 (RFC 5798) has no authentication.
        authentication = if inst.version == 2 then renderedAuthentication else { type = "none"; };
        virtual_addresses = map renderAddress inst.virtualAddresses;
        garp_master_refresh_s = inst.garpMasterRefreshSeconds;
      }
      // optionalAttrs (!inst.preempt) { preempt = false; }
      // optionalAttrs inst.useVirtualMac { use_virtual_mac = true; }
      // optionalAttrs (inst.track != { }) {
        track = mapAttrsToList (tracker: weight: { inherit tracker weight; }) inst.track;
      }
      // optionalAttrs (inst.notify != null) { inherit (inst) notify; }
      // optionalAttrs inst.unicast {
        # Adverts go to the other nodes' addresses and are accepted only from them.
        unicast_source = unicastAddressOf inst localNodeName;
        unicast_peers = map (unicastAddressOf inst) otherNodeNames;
      };
    in
    recursiveUpdate (recursiveUpdate base cfg.instanceSettings) inst.settings;

  # A `process` health check counts other users' processes, which ProtectProc=invisible
  # would hide from vrrpd's own user.
  usesProcessChecks = lib.any (check: (check.check.type or null) == "process") (
    lib.attrValues cfg.healthChecks
  );

  # One top-level tracker per health check; each instance's `track` carries the weight.
  renderedTrackers = mapAttrsToList (name: check: {
    inherit name;
    inherit (check) check rise fall;
    interval_ms = check.intervalMs;
    timeout_ms = check.timeoutMs;
  }) cfg.healthChecks;

  renderedSettings = recursiveUpdate (
    {
      "$schema" = schemaId;
      instances = map renderInstance instanceList;
    }
    // optionalAttrs (cfg.syncGroups != { }) {
      sync_groups = mapAttrsToList (name: instances: { inherit name instances; }) cfg.syncGroups;
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
  runtimeDirectory = "/run/vrrpd";
  runtimeConfigPath = "${runtimeDirectory}/vrrpd.json";
  runtimeSecretPath = "${runtimeDirectory}/${passwordCredential}";
  daemonConfigPath = if usesPasswordFile then runtimeConfigPath else etcConfigPath;

  # Writes the runtime config: /etc/vrrpd/vrrpd.json with the secret in place
  # of the placeholder. jq builds the JSON string, so quotes or backslashes in
  # the secret are safe. One trailing newline (as `echo` leaves) is not part of
  # the password.
  #
  # The start script (ExecStartPre) copies the secret from the credential directory to
  # the runtime directory (0700, the service's own); the reload script
  # (ExecReload) reads that copy. systemd 258 (NixOS 25.11) gives ExecReload= no
  # credentials: $CREDENTIALS_DIRECTORY is unset there, and refreshing them at
  # reload came later (systemd PR #40093). So a reload picks up every change of
  # the Nix config, and a changed password file takes effect at the next start.
  prepareRuntimeConfig =
    mode:
    pkgs.writeShellScript "vrrpd-prepare-config-${mode}" ''
      set -euo pipefail
      umask 077
      ${
        if mode == "start" then
          ''
            if [ -z "''${CREDENTIALS_DIRECTORY:-}" ]; then
              echo "vrrpd-prepare-config: no credential directory (LoadCredential=${passwordCredential})" >&2
              exit 1
            fi
            cp "$CREDENTIALS_DIRECTORY/${passwordCredential}" ${runtimeSecretPath}.tmp
            mv ${runtimeSecretPath}.tmp ${runtimeSecretPath}
          ''
        else
          ''
            if [ ! -f ${runtimeSecretPath} ]; then
              echo "vrrpd-prepare-config: ${runtimeSecretPath} is missing: restart vrrpd to read the password file again" >&2
              exit 1
            fi
          ''
      }
      ${pkgs.jq}/bin/jq \
        --rawfile secret ${runtimeSecretPath} \
        --arg placeholder ${lib.escapeShellArg passwordPlaceholder} \
        '.instances |= map(
           if .authentication.password? == $placeholder
           then .authentication.password = ($secret | rtrimstr("\n"))
           else . end)' \
        ${etcConfigPath} > ${runtimeConfigPath}.tmp
      mv ${runtimeConfigPath}.tmp ${runtimeConfigPath}
    '';

  # The firewall the host uses. networking.firewall.backend (NixOS 25.11) also
  # knows firewalld; older NixOS only has networking.nftables.enable.
  firewallBackend =
    if options.networking.firewall ? backend then
      config.networking.firewall.backend
    else if config.networking.nftables.enable then
      "nftables"
    else
      "iptables";
  openFirewallInterfaces = unique (map (inst: inst.interface) instanceList);

  # The virtual MAC's macvlan receives the traffic to the virtual addresses while the
  # route back to its sender goes out the parent interface: a strict reverse path check
  # (the NixOS firewall's default, checkReversePath = true) drops it.
  virtualMacInstances = filter (inst: inst.useVirtualMac) instanceList;
  strictReversePath =
    config.networking.firewall.enable
    && firewallBackend != "firewalld"
    && lib.elem config.networking.firewall.checkReversePath [
      true
      "strict"
    ];

  # systemd-networkd and the virtual addresses. networkd treats an address it did not
  # configure as "foreign" and removes it when it (re)configures the interface: with
  # systemd 252 on `networkctl reconfigure` and on `networkctl reload` after the
  # .network file changed (tests/netns_nspawn.rs). vrrpd puts a removed address back
  # within milliseconds; KeepConfiguration=static tells networkd to leave foreign
  # addresses that have no lifetime (which the virtual addresses are) alone in the first
  # place. "static" rather than "yes": "yes" also keeps DHCP leases past their expiry.
  vrrpInterfaces = unique (map (inst: inst.interface) instanceList);
  networkdKeepValue = "static";
  networkdManaged = config.systemd.network.enable or false;
  networkdKeeps = cfg.networkd.keepConfiguration && networkdManaged;
  # The entries NixOS itself generates with networking.useNetworkd: "40-<interface>"
  # for every networking.interfaces entry (nixos/modules/tasks/network-interfaces-systemd.nix).
  defaultNetworkdNetworks =
    if config.networking.useNetworkd or false then
      map (interface: "40-${interface}") (
        filter (interface: (config.networking.interfaces or { }) ? ${interface}) vrrpInterfaces
      )
    else
      [ ];
  networkdNetworks = config.systemd.network.networks or { };
  # The interface names a .network entry matches by name: matchConfig.Name (a string of
  # whitespace-separated globs, or a list) or the NixOS shorthand `name`. A list that
  # starts with "!" matches every other interface: not followed here.
  matchedNames =
    network:
    let
      raw = network.matchConfig.Name or network.name or null;
      tokens = filter (t: t != "") (
        concatMap (v: lib.splitString " " (toString v)) (lib.toList (if raw == null then [ ] else raw))
      );
    in
    if tokens != [ ] && lib.hasPrefix "!" (lib.head tokens) then [ ] else tokens;
  # A systemd.network(5) Name= glob against an interface name (* and ? only).
  globMatches =
    glob: name:
    builtins.match (lib.replaceStrings [ "\\*" "\\?" ] [ ".*" "." ] (lib.escapeRegex glob)) name != null;
  networksMatching =
    interface:
    filter (n: lib.any (glob: globMatches glob interface) (matchedNames networkdNetworks.${n})) (
      attrNames networkdNetworks
    );
  # Entries that manage a VRRP interface by name but do not get KeepConfiguration= from
  # this module (and do not set it themselves).
  uncoveredNetworks = unique (
    filter (
      n:
      !(lib.elem n cfg.networkd.networks)
      && !(networkdNetworks.${n} ? networkConfig && networkdNetworks.${n}.networkConfig ? KeepConfiguration)
    ) (concatMap networksMatching vrrpInterfaces)
  );
  # Listed entries that match no interface (or exist only because this module sets
  # KeepConfiguration= on them: a typo): a .network file made of KeepConfiguration=
  # alone would have no [Match] section and apply to every interface.
  hasMatch =
    n: (networkdNetworks.${n}.matchConfig or { }) != { } || (networkdNetworks.${n}.name or null) != null;
  matchlessNetworkdNetworks = filter (n: !(hasMatch n)) cfg.networkd.networks;

  # "lb01 and lb02 (priority 100)" for every pair of nodes with the same priority.
  priorityClashes =
    inst:
    concatMap (
      a:
      map (b: "${a} and ${b} (priority ${toString (priorityOf inst a)})") (
        filter (b: a < b && priorityOf inst a == priorityOf inst b) nodeNames
      )
    ) nodeNames;

  nodesWithBadPriority = filter (
    n: cfg.nodes.${n}.priority < 1 || cfg.nodes.${n}.priority > 255
  ) nodeNames;

  advertIntervalProblem =
    inst:
    let
      ms = inst.advertIntervalMs;
    in
    if inst.version == 2 then
      optionalString (ms < 1000 || ms > 255000 || lib.mod ms 1000 != 0)
        "${inst.optionPath}.advertIntervalMs is ${toString ms}, but VRRPv2 carries the interval in whole seconds in one octet (RFC 3768 §5.3): use a multiple of 1000 between 1000 and 255000."
    else
      optionalString (ms < 10 || ms > 40950 || lib.mod ms 10 != 0)
        "${inst.optionPath}.advertIntervalMs is ${toString ms}, but VRRPv3 carries the interval in centiseconds in 12 bits (RFC 5798 §5.2): use a multiple of 10 between 10 and 40950.";

  # The assertions every instance (and the short form) must pass.
  instanceAssertions =
    inst:
    let
      at = field: "${inst.optionPath}.${field}";
      nodesWithoutAddress = filter (n: unicastAddressOf inst n == null) nodeNames;
      badOverrides = filter (n: !(cfg.nodes ? ${n})) (attrNames inst.priorities);
      badOverridePriorities = filter (n: inst.priorities.${n} < 1 || inst.priorities.${n} > 255) (
        attrNames inst.priorities
      );
      unknownTracks = filter (t: !(cfg.healthChecks ? ${t})) (attrNames inst.track);
      isShortForm = inst.optionPath == "services.vrrp";
    in
    [
      {
        assertion = priorityClashes inst == [ ];
        message = "${
          if isShortForm then "services.vrrp.nodes" else "${inst.optionPath} (services.vrrp.nodes and ${at "priorities"})"
        }: ${concatStringsSep "; " (priorityClashes inst)} share a priority. Give every node its own priority so the MASTER is the node you chose (on a tie VRRP falls back to comparing IP addresses).";
      }
      {
        assertion = badOverrides == [ ];
        message = "${at "priorities"} names ${concatStringsSep ", " badOverrides}, which ${
          if length badOverrides == 1 then "is" else "are"
        } not in services.vrrp.nodes (the nodes are: ${concatStringsSep ", " nodeNames}).";
      }
      {
        assertion = badOverridePriorities == [ ];
        message = "${at "priorities"}: priority must be between 1 and 255; ${
          concatMapStringsSep ", " (n: "${n} has ${toString inst.priorities.${n}}") badOverridePriorities
        }.";
      }
      {
        assertion = inst.virtualRouterId != null;
        message = "${at "virtualRouterId"} is not set: give the instance its VRID (1 to 255, the same on every node), or define services.vrrp.instances.<name>.";
      }
      {
        assertion = inst.virtualRouterId == null || (inst.virtualRouterId >= 1 && inst.virtualRouterId <= 255);
        message = "${at "virtualRouterId"} is ${toString inst.virtualRouterId}, but a VRID must be between 1 and 255 (RFC 5798 §5.2.3).";
      }
      {
        assertion = inst.virtualAddresses != [ ];
        message = "${at "virtualAddresses"} is empty: list at least one address for the MASTER to hold, e.g. [ \"192.168.0.40\" ].";
      }
      {
        assertion = !mixedFamilies inst;
        message = "${at "virtualAddresses"} mixes IPv4 and IPv6 addresses, but an instance carries one address family: for dual stack define two instances in services.vrrp.instances (one VRRPv3 instance per family) and put them in services.vrrp.syncGroups.";
      }
      {
        # RFC 5798 §5.2.9; `vrrpd check` refuses it too, this says it at evaluation.
        assertion =
          familyOf inst != 6
          || inst.virtualAddresses == [ ]
          || lib.any (p: lib.hasPrefix p (lib.toLower (lib.head (addressTexts inst)))) [
            "fe8"
            "fe9"
            "fea"
            "feb"
          ];
        message = "${at "virtualAddresses"} starts with ${lib.head (addressTexts inst)}, but an IPv6 instance's first virtual address must be a link-local one (fe80::/10, RFC 5798 §5.2.9), e.g. [ \"fe80::40\" ${
          concatMapStringsSep " " (a: "\"${a}\"") (addressTexts inst)
        } ].";
      }
      {
        assertion = !(familyOf inst == 6 && inst.virtualAddresses != [ ] && inst.version == 2);
        message = "${at "version"} is 2, but ${at "virtualAddresses"} are IPv6: VRRPv2 (RFC 3768) is IPv4 only. Use version = 3.";
      }
      {
        assertion = inst.interface != null && inst.interface != "";
        message = "${at "interface"} is ${
          if inst.interface == null then "not set" else "empty"
        }: name the interface that carries the virtual addresses, e.g. \"eth0\".";
      }
      {
        assertion = !(isShortForm && usesPassword && inst.version == 3);
        message = "services.vrrp.authentication is set, but version is 3: VRRPv3 (RFC 5798) has no authentication. In a group that still has keepalived nodes set services.vrrp.preset = \"keepalived\" (VRRPv2 at 1 s, as keepalived) or version = 2; once every node runs vrrpd drop the password (VRRPv2's travels in plain text anyway).";
      }
      {
        assertion = advertIntervalProblem inst == "";
        message = advertIntervalProblem inst;
      }
      {
        assertion = inst.garpMasterRefreshSeconds >= 0;
        message = "${at "garpMasterRefreshSeconds"} must be 0 (off) or a positive number of seconds.";
      }
      {
        assertion = unknownTracks == [ ];
        message = "${at "track"} names ${concatStringsSep ", " unknownTracks}, but services.vrrp.healthChecks has no such check (it has: ${
          concatStringsSep ", " (attrNames cfg.healthChecks)
        }).";
      }
      {
        assertion = !inst.unicast || nodesWithoutAddress == [ ];
        message = "${at "unicast"} is on, but ${concatStringsSep ", " nodesWithoutAddress} ${
          if length nodesWithoutAddress == 1 then "has" else "have"
        } no ${unicastAddressOption inst}: in unicast mode every node's services.vrrp.nodes.<name>.${unicastAddressOption inst} is where the others send their advertisements${
          optionalString (familyOf inst == 6) " (an IPv6 instance uses address6)"
        }.";
      }
      {
        assertion = !inst.unicast || otherNodeNames != [ ];
        message = "${at "unicast"} is on, but services.vrrp.nodes lists no node besides this one (${localNodeName}) to send advertisements to.";
      }
    ];

  instanceNames = map (inst: inst.name) instanceList;
  syncGroupMembers = concatMap (group: cfg.syncGroups.${group}) (attrNames cfg.syncGroups);

  vrrpAssertions = [
    {
      assertion = localNodeKnown;
      message = "services.vrrp.nodes has no entry for this host: services.vrrp.localNode (by default networking.hostName) is \"${localNodeName}\", the nodes are: ${concatStringsSep ", " nodeNames}. Add services.vrrp.nodes.\"${localNodeName}\" or fix networking.hostName.";
    }
    {
      assertion = nodesWithBadPriority == [ ];
      message = "services.vrrp.nodes: priority must be between 1 and 255 (0 is reserved for a master that leaves, RFC 5798 §5.2.4); ${
        concatMapStringsSep ", " (n: "${n} has ${toString cfg.nodes.${n}.priority}") nodesWithBadPriority
      }.";
    }
    {
      assertion = cfg.instances == { } || (cfg.virtualRouterId == null && cfg.virtualAddresses == [ ]);
      message = "services.vrrp: virtualRouterId and virtualAddresses are the short form of one instance, but services.vrrp.instances is set too (${concatStringsSep ", " (attrNames cfg.instances)}): move them into an entry of services.vrrp.instances.";
    }
    {
      # With several instances the password goes to the VRRPv2 ones (an IPv4
      # instance next to keepalived, a VRRPv3 IPv6 one beside it); one must use it.
      assertion = cfg.instances == { } || !usesPassword || lib.any (inst: inst.version == 2) instanceList;
      message = "services.vrrp.authentication is set, but no instance of services.vrrp.instances is VRRPv2 (${
        concatMapStringsSep ", " (inst: "${inst.name}: version ${toString inst.version}") instanceList
      }): the password is VRRPv2's, VRRPv3 (RFC 5798) has none. Set version = 2 (or preset = \"keepalived\") where a keepalived node needs it, or drop the password.";
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
      assertion = cfg.watchdogSec >= 0;
      message = "services.vrrp.watchdogSec must be 0 (off) or a positive number of seconds.";
    }
    {
      assertion = !networkdKeeps || matchlessNetworkdNetworks == [ ];
      message = "services.vrrp.networkd.networks names ${concatStringsSep ", " matchlessNetworkdNetworks}, but systemd.network.networks has no such entry with a matchConfig (${
        let
          matching = filter hasMatch (attrNames networkdNetworks);
        in
        if matching == [ ] then
          "none of its entries matches an interface"
        else
          "the entries that match interfaces: ${concatStringsSep ", " matching}"
      }); KeepConfiguration= alone would make a .network file without [Match], which applies to every interface. List the entries that configure ${concatStringsSep ", " vrrpInterfaces}, or set services.vrrp.networkd.keepConfiguration = false.";
    }
    {
      assertion = !(cfg.openFirewall && firewallBackend == "firewalld");
      message = "services.vrrp.openFirewall does not support the firewalld backend (networking.firewall.backend = \"firewalld\"): allow VRRP (IP protocol 112) on ${concatStringsSep ", " openFirewallInterfaces} in firewalld yourself (e.g. a rich rule `rule protocol value=\"vrrp\" accept` in the interface's zone) and set openFirewall = false. Without it the peers' advertisements are dropped and every node becomes MASTER.";
    }
  ]
  ++ lib.mapAttrsToList (group: members: {
    assertion = lib.all (m: lib.elem m instanceNames) members && length (unique members) >= 2;
    message = "services.vrrp.syncGroups.${group} is [ ${concatStringsSep " " members} ]: a sync group needs at least two distinct instances, each one of services.vrrp.instances (${concatStringsSep ", " instanceNames}).";
  }) cfg.syncGroups
  ++ [
    {
      assertion = length syncGroupMembers == length (unique syncGroupMembers);
      message = "services.vrrp.syncGroups: an instance belongs to at most one sync group; ${
        concatStringsSep ", " (unique (filter (m: lib.count (x: x == m) syncGroupMembers > 1) syncGroupMembers))
      } ${
        if length (unique (filter (m: lib.count (x: x == m) syncGroupMembers > 1) syncGroupMembers)) == 1 then "is" else "are"
      } in several.";
    }
  ]
  ++ concatMap instanceAssertions instanceList;
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
            (`path`). See
            ${docs}/health-checks.md.
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
            VRRP priority of node `${name}`, 1 to 255, for every instance
            (override it per instance with
            {option}`services.vrrp.instances.<name>.priorities`). The node with
            the highest priority becomes MASTER; every node must have its own
            priority. 255 is reserved by RFC 5798 for the owner of the virtual
            addresses.
          '';
        };
        address = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "192.168.0.41";
          description = ''
            The node's own primary IPv4 address on the instances' interface.
            With unicast on, it is where the other nodes send the
            advertisements of IPv4 instances (and this node's source address);
            otherwise it only documents the configuration, since vrrpd then
            sends from the interface's primary address.
          '';
        };
        address6 = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "2001:db8::41";
          description = ''
            The node's own IPv6 address on the instances' interface (global,
            or link-local), as {option}`services.vrrp.nodes.<name>.address`
            is the IPv4 one. With unicast on, it is where the other nodes
            send the advertisements of IPv6 (VRRPv3) instances, and this
            node's source address for them (`unicast_source`); otherwise it
            only documents the configuration, since IPv6 advertisements then
            go to ff02::12 from the interface's link-local address.
          '';
        };
      };
    };

  instanceModule =
    { name, config, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
          description = "The instance's name in logs, in the config and in {option}`services.vrrp.syncGroups`.";
        };
        interface = mkOption {
          type = types.nullOr types.str;
          default = cfg.interface;
          defaultText = literalExpression "config.services.vrrp.interface";
          example = "eth1";
          description = "Interface that sends this instance's advertisements and holds its addresses.";
        };
        virtualRouterId = mkOption {
          type = types.nullOr types.int;
          default = null;
          example = 51;
          description = ''
            The instance's VRID, 1 to 255, the same on every node and unique on
            the link per address family (an IPv4 and an IPv6 instance may share one).
          '';
        };
        virtualAddresses = mkOption {
          type = types.listOf addressType;
          default = [ ];
          example = [
            "fe80::40"
            "2001:db8::40"
          ];
          description = ''
            Addresses the MASTER of this instance holds, all of one address
            family. An IPv6 instance lists a link-local address first
            (RFC 5798 §5.2.9). An address on another interface than the
            instance's is `{ address = "198.51.100.7/24"; interface = "eth1"; }`.
          '';
        };
        useVirtualMac = mkOption {
          type = types.bool;
          default = cfg.useVirtualMac;
          defaultText = literalExpression "config.services.vrrp.useVirtualMac";
          description = "Whether this instance uses the RFC's virtual MAC (vrrpd `use_virtual_mac`).";
        };
        version = mkOption {
          type = types.enum [
            2
            3
          ];
          default = cfg.version;
          defaultText = literalExpression "config.services.vrrp.version";
          description = "VRRP version of this instance. IPv6 instances need 3.";
        };
        advertIntervalMs = mkOption {
          type = types.int;
          default = if config.version == cfg.version then cfg.advertIntervalMs else defaultIntervalFor config.version;
          defaultText = literalExpression "config.services.vrrp.advertIntervalMs (for the instance's version)";
          description = "Advertisement interval of this instance in milliseconds.";
        };
        preempt = mkOption {
          type = types.bool;
          default = cfg.preempt;
          defaultText = literalExpression "config.services.vrrp.preempt";
          description = "Whether a higher-priority node takes this instance back when it returns.";
        };
        priorities = mkOption {
          type = types.attrsOf types.int;
          default = { };
          example = {
            lb01 = 100;
            lb02 = 150;
          };
          description = ''
            Per-node priorities for this instance, over
            {option}`services.vrrp.nodes.<name>.priority`; e.g. to make the
            other node the MASTER of a second VIP (active/active).
          '';
        };
        garpMasterRefreshSeconds = mkOption {
          type = types.int;
          default = cfg.garpMasterRefreshSeconds;
          defaultText = literalExpression "config.services.vrrp.garpMasterRefreshSeconds";
          description = "Gratuitous ARP (or unsolicited NA) refresh while MASTER, in seconds; 0 is off.";
        };
        unicast = mkOption {
          type = types.bool;
          default = cfg.unicast;
          defaultText = literalExpression "config.services.vrrp.unicast";
          description = "Unicast advertisements to the other nodes (IPv4 instances: `address`).";
        };
        track = mkOption {
          type = types.attrsOf types.int;
          default = mapAttrs (_: check: check.weight) cfg.healthChecks;
          defaultText = literalExpression "every services.vrrp.healthChecks entry with its weight";
          example = {
            caddy = -60;
          };
          description = ''
            Health checks of {option}`services.vrrp.healthChecks` this instance
            follows, with their weight (0: FAULT while the check fails). `{ }`
            follows none.
          '';
        };
        notify = mkOption {
          type = types.nullOr jsonFormat.type;
          default = cfg.notify;
          defaultText = literalExpression "config.services.vrrp.notify";
          description = "Programs run on this instance's transitions (vrrpd `notify`).";
        };
        settings = mkOption {
          type = types.submodule { freeformType = jsonFormat.type; };
          default = { };
          example = literalExpression "{ preempt_delay_s = 30; }";
          description = ''
            Extra keys of this instance's object, merged (recursively) over what
            the options render and over {option}`services.vrrp.instanceSettings`.
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
      type = types.nullOr types.str;
      default = null;
      example = "eth0";
      description = ''
        Interface that sends the advertisements and holds the virtual
        addresses; the default of every entry of {option}`services.vrrp.instances`.
      '';
    };

    virtualRouterId = mkOption {
      type = types.nullOr types.int;
      default = null;
      example = 50;
      description = ''
        Virtual router ID (VRID), 1 to 255, of the short form's one instance.
        All nodes of the group use the same one; it must be unique on the
        link. Leave it unset when you use {option}`services.vrrp.instances`.
      '';
    };

    virtualAddresses = mkOption {
      type = types.listOf addressType;
      default = [ ];
      example = [
        "192.168.0.40"
        "192.168.0.50/24"
      ];
      description = ''
        Addresses the MASTER of the short form's instance holds, with an
        optional prefix length (/32 or /128 without one). One address family
        per instance: for dual stack use {option}`services.vrrp.instances`.
        An address on another interface than {option}`services.vrrp.interface`
        is `{ address = "198.51.100.7/24"; interface = "eth1"; }` (keepalived's
        `dev`); the instance is in FAULT while that interface is down, unless
        `track = false`.
      '';
    };

    useVirtualMac = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Use the RFC's virtual MAC (00-00-5E-00-01-VRID; keepalived `use_vmac`):
        vrrpd makes a macvlan on the interface that carries the addresses while
        MASTER, so a failover changes no client's or router's ARP entry. vrrpd
        raises the interface's `arp_ignore` to 1 and `arp_announce` to 2; keep
        `net.ipv4.conf.all.rp_filter` at 2 (loose) or 0. See the configuration
        reference, "use_virtual_mac".
      '';
    };

    version = mkOption {
      type = types.enum [
        2
        3
      ];
      default = defaultVersion;
      defaultText = literalExpression ''if config.services.vrrp.preset == "keepalived" then 2 else 3'';
      example = 2;
      description = ''
        VRRP version: 3 (RFC 5798/9568) by default, 2 (RFC 3768) with
        `preset = "keepalived"`. 2 is what keepalived speaks by default, so
        vrrpd and keepalived nodes interoperate during a migration, and it is
        the only version with a password; 3 is needed for IPv6 and
        sub-second intervals. See {option}`services.vrrp.preset` for the
        trade-off.
      '';
    };

    advertIntervalMs = mkOption {
      type = types.int;
      default = defaultIntervalFor cfg.version;
      defaultText = literalExpression ''if preset == "vrrpd" && version == 3 then 100 else 1000'';
      example = 1000;
      description = ''
        Advertisement interval in milliseconds (keepalived `advert_int` × 1000):
        100 by default, 1000 with VRRPv2 or `preset = "keepalived"`.
        VRRPv2 needs whole seconds (1000 to 255000); VRRPv3 takes multiples
        of 10 ms up to 40950. A backup takes over after about three intervals.
      '';
    };

    preset = mkOption {
      type = types.enum [
        "vrrpd"
        "keepalived"
      ];
      default = "vrrpd";
      example = "keepalived";
      description = ''
        Where the defaults of {option}`services.vrrp.version` and
        {option}`services.vrrp.advertIntervalMs` come from.

        - `"vrrpd"`: every node of the group runs vrrpd (in this module they
          all do): VRRPv3 at 100 ms. A node's death costs about 0.36 s of
          outage (Master_Down_Interval: 3 × 100 ms plus skew) instead of
          3.6 s at VRRPv2 and 1 s.
        - `"keepalived"`: a group that still has keepalived nodes (during a
          migration): VRRPv2 at 1 s, keepalived's defaults, and the only
          version with a password.

        The trade-off: VRRPv3 has no authentication, and VRRPv2's PASS is an
        8-byte password in plain text on the wire, which keeps out mistakes,
        not attackers. At 100 ms a backup on a machine that stalls for more
        than about 300 ms can take over by mistake (none in 10 minutes of
        full CPU load in our measurements; several at 10 ms). See
        ${docs}/migrating-from-keepalived.md
        for the switch, its order and the measured outages.
      '';
    };

    instances = mkOption {
      type = types.attrsOf (types.submodule instanceModule);
      default = { };
      example = literalExpression ''
        {
          v4 = { virtualRouterId = 50; virtualAddresses = [ "192.0.2.40" ]; };
          v6 = { virtualRouterId = 50; virtualAddresses = [ "fe80::40" "2001:db8::40" ]; };
        }
      '';
      description = ''
        Several VRRP instances, by name, instead of the short form
        ({option}`services.vrrp.virtualRouterId`,
        {option}`services.vrrp.virtualAddresses`). Dual stack needs one
        VRRPv3 instance per address family; a public and an internal VIP are
        two instances. Every instance shares {option}`services.vrrp.nodes`
        and takes the top-level interface, version, interval, preempt,
        GARP refresh, unicast, notify and health checks as defaults, each of
        which it can override; the authentication is shared. See
        ${docs}/nixos.md.
      '';
    };

    syncGroups = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
      example = {
        frontend = [
          "v4"
          "v6"
        ];
      };
      description = ''
        Instances that move between MASTER and BACKUP together (vrrpd
        `sync_groups`, keepalived `vrrp_sync_group`), by group name: the names
        of at least two entries of {option}`services.vrrp.instances`, each in
        at most one group.
      '';
    };

    notify = mkOption {
      type = types.nullOr jsonFormat.type;
      default = null;
      example = literalExpression ''
        { master = [ "systemctl" "start" "--no-block" "vip-up.service" ]; }
      '';
      description = ''
        Programs run on state transitions (vrrpd `notify`: `master`,
        `backup`, `fault`, `stop`, `generic`, and `priority_change` for
        effective priority changes, each a program and its
        arguments), for every instance that does not set its own. They run as
        the service's user, inside its sandbox, without its capabilities and
        with only `PATH` and the `VRRPD_*` variables in their environment
        (`keep_privileges = true` gives them the service's CAP_NET_ADMIN and
        CAP_NET_RAW, with a warning at every start; `user` applies only when
        vrrpd runs as root, which the module does not); put the packages they
        call into {option}`services.vrrp.extraPackages`. See
        ${docs}/configuration.md and ${docs}/health-checks.md.
      '';
    };

    extraPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.curl pkgs.systemd ]";
      description = ''
        Packages on the service's `PATH` (`systemd.services.vrrpd.path`), for
        what `exec` health checks and notify programs call (`curl`,
        `systemctl`), so they do not depend on the system's `PATH`.
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
          8 bytes, for every VRRPv2 instance (VRRPv3 has no authentication). It ends up in the world-readable Nix store; it travels in
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
          ignored), read through systemd's `LoadCredential=` when the service
          starts, so the secret never enters the Nix store. Give an absolute
          path as a string. The config in the store carries a placeholder; at
          start the secret is copied into the service's runtime directory and
          the daemon reads the config with the secret from
          `/run/vrrpd/vrrpd.json`. A reload (`systemctl reload vrrpd`, and
          every `nixos-rebuild switch` that changes the config) re-renders it
          from that copy, because systemd 258 (NixOS 25.11) gives
          `ExecReload=` no credentials. So after changing the file's content,
          run `systemctl restart vrrpd` (the MASTER hands over first), not
          reload.
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
        Health checks, by name (vrrpd `trackers`; keepalived `vrrp_script`).
        Every instance follows all of them with their weight (its `track`
        entries; keepalived `track_script`) unless it sets
        {option}`services.vrrp.instances.<name>.track`. With a negative weight
        larger than the gap between the nodes' priorities, a node whose
        service fails hands the virtual addresses to a healthy peer. A check
        of `type = "process"` makes the unit `ProtectProc=default`, so that
        vrrpd sees the other users' processes it counts. See
        ${docs}/health-checks.md.
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
        (IPv4 instances) or {option}`services.vrrp.nodes.<name>.address6` (IPv6
        instances) instead of the multicast group 224.0.0.18 / ff02::12, and accept
        them only from those addresses (vrrpd `unicast_peers`, keepalived
        `unicast_peer`), for networks that filter multicast. The local node's
        address of the instance's family becomes the source (`unicast_source`).
        Every node needs an `address` for IPv4 instances and an `address6` for IPv6
        ones. The default of every instance.
      '';
    };

    networkd.keepConfiguration = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        When systemd-networkd manages the interfaces (`systemd.network.enable`, as with
        `networking.useNetworkd`), set `KeepConfiguration=static` on the
        {option}`services.vrrp.networkd.networks` entries, so that networkd leaves the
        virtual addresses alone when it reconfigures the interface (it removes
        addresses it did not configure: with systemd 252 on `networkctl reconfigure`
        and on a reload after the `.network` file changed). vrrpd puts a removed
        address back within milliseconds anyway; this is the second line of defence.
        A value the entry sets itself wins. See ${docs}/nixos.md.
      '';
    };

    networkd.networks = mkOption {
      type = types.listOf types.str;
      default = defaultNetworkdNetworks;
      defaultText = literalExpression ''
        # with networking.useNetworkd: the entries NixOS generates for the VRRP
        # interfaces that networking.interfaces declares
        [ "40-eth0" ]
      '';
      example = [ "10-lan" ];
      description = ''
        The `systemd.network.networks` entries that configure the VRRP interfaces and
        get `KeepConfiguration=static` (with {option}`services.vrrp.networkd.keepConfiguration`).
        List your own entries here; an entry that matches a VRRP interface by
        `matchConfig.Name` but is not listed (and sets no `KeepConfiguration=`)
        produces a warning.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Accept VRRP (IP protocol 112) on every instance's interface in the
        NixOS firewall, for the iptables and the nftables backend
        (`networking.firewall.backend`). firewalld is not supported: an
        assertion asks you to open it there. Without it the firewall drops the
        peers' advertisements and every node becomes MASTER (split brain).
      '';
    };

    realtimePriority = mkOption {
      type = types.nullOr (types.ints.between 1 99);
      default = 10;
      example = null;
      description = ''
        Run vrrpd's protocol loop in the SCHED_RR realtime class at this priority
        (`vrrpd run --realtime-priority`, keepalived's `vrrp_rt_priority`), so that
        adverts leave on time when every core is busy: at 10 ms adverts a backup
        takes over after 36 ms of silence. Checks and hooks stay at normal priority.
        The unit gets `LimitRTPRIO=` to allow it, with `RestrictRealtime=` off and
        `sched_setscheduler` allowed. `null`: normal scheduling, and the unit keeps
        `RestrictRealtime=true`. docs/RELIABILITY.md has the measurement.
      '';
    };

    lockMemory = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Lock vrrpd's memory into RAM (`vrrpd run --lock-memory`, keepalived's
        `vrrp_no_swap`), so that swap or the page cache's reclaim cannot evict the
        pages an advert or a takeover needs. The unit gets `LimitMEMLOCK=infinity`.
        It costs the whole executable resident (about 10 MB instead of 6 MB) and
        matters only on a host that swaps or reclaims hard; off by default.
        docs/RELIABILITY.md has the measurement.
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
        Extra keys of every instance object, merged (recursively) over what the
        options above render, for every instance field of the schema
        (`share/vrrpd/vrrpd.schema.json` in the package,
        ${docs}/configuration.md)
        without an option here.
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
        (such as `instances`) replaces the rendered one entirely; for several
        instances use {option}`services.vrrp.instances`, which keeps `nodes`,
        priorities and unicast. The result is still checked by `vrrpd check` at
        build time.
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
      warnings = lib.optional (virtualMacInstances != [ ] && strictReversePath) "services.vrrp: ${
        concatStringsSep ", " (map (inst: inst.optionPath) virtualMacInstances)
      } use the virtual MAC, but networking.firewall.checkReversePath is strict: traffic to the virtual addresses arrives on the virtual MAC's macvlan while the route back goes out ${
        concatStringsSep ", " (unique (map (inst: inst.interface) virtualMacInstances))
      }, so the firewall drops it. Set networking.firewall.checkReversePath = \"loose\".";

      services.vrrp = {
        inherit renderedSettings;
        configFile = checkedConfigFile;
      };

      environment.etc."vrrpd/vrrpd.json".source = checkedConfigFile;

      systemd.services.vrrpd = {
        description = "vrrpd VRRP daemon (${
          concatMapStringsSep ", " (inst: "${inst.name}, VRID ${toString inst.virtualRouterId}") instanceList
        })";
        path = cfg.extraPackages;
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        # A changed config reloads the daemon (SIGHUP) rather than restarting it.
        reloadTriggers = [ checkedConfigFile ];

        serviceConfig = {
          Type = "notify";
          NotifyAccess = "main";
          WatchdogSec = toString cfg.watchdogSec;
          ExecStartPre = optional usesPasswordFile (prepareRuntimeConfig "start");
          ExecStart =
            "${cfg.package}/bin/vrrpd run --config ${daemonConfigPath}"
            + optionalString realtime " --realtime-priority ${toString cfg.realtimePriority}"
            + optionalString cfg.lockMemory " --lock-memory";
          # mlockall(MCL_CURRENT | MCL_FUTURE) counts every page against RLIMIT_MEMLOCK, and
          # an allocation past it would fail later: no limit, the service's MemoryMax= rules.
          LimitMEMLOCK = mkIf cfg.lockMemory "infinity";
          # An unprivileged process may enter SCHED_RR up to RLIMIT_RTPRIO (sched(7)).
          LimitRTPRIO = if realtime then cfg.realtimePriority else 0;
          ExecReload = optional usesPasswordFile (prepareRuntimeConfig "reload") ++ [
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
          PrivateMounts = true;
          ProtectClock = true;
          ProtectControlGroups = true;
          ProtectHome = true;
          ProtectHostname = true;
          ProtectKernelLogs = true;
          ProtectKernelModules = true;
          ProtectKernelTunables = true;
          # A process health check must see other users' processes (docs/health-checks.md).
          ProtectProc = if usesProcessChecks then "default" else "invisible";
          # vrrpd reads nothing in /proc but /proc/self; see docs/systemd.md.
          ProcSubset = "pid";
          ProtectSystem = "strict";
          RemoveIPC = true;
          RestrictNamespaces = true;
          RestrictRealtime = !realtime;
          RestrictSUIDSGID = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "~@privileged"
            "~@resources"
            # Lowering capability sets only: checks and hooks start with none.
            "capset"
          ]
          ++ optional realtime "sched_setscheduler";
          SystemCallErrorNumber = "EPERM";
        };
      };
    }

    (mkIf networkdKeeps {
      # mkDefault: a KeepConfiguration= the entry sets itself wins.
      systemd.network.networks = lib.genAttrs cfg.networkd.networks (_: {
        networkConfig.KeepConfiguration = lib.mkDefault networkdKeepValue;
      });
      warnings = map (
        n:
        "services.vrrp: systemd.network.networks.${n} configures ${
          concatStringsSep ", " (filter (i: lib.elem n (networksMatching i)) vrrpInterfaces)
        }, which carries virtual addresses, but does not get KeepConfiguration=${networkdKeepValue}: add \"${n}\" to services.vrrp.networkd.networks (or set KeepConfiguration there yourself), so that networkd does not remove the virtual addresses when it reconfigures the interface."
      ) uncoveredNetworks;
    })

    (mkIf (cfg.openFirewall && firewallBackend == "iptables") {
      # Runs just before the firewall's final refuse rule; the chain is
      # flushed on every firewall (re)start, so no stop command is needed.
      networking.firewall.extraCommands = concatMapStringsSep "\n" (
        interface: "ip46tables -A nixos-fw -i ${lib.escapeShellArg interface} -p 112 -j nixos-fw-accept"
      ) openFirewallInterfaces;
    })

    (mkIf (cfg.openFirewall && firewallBackend == "nftables") {
      networking.firewall.extraInputRules = concatMapStringsSep "\n" (
        interface: "iifname \"${interface}\" meta l4proto 112 accept comment \"VRRP (services.vrrp)\""
      ) openFirewallInterfaces;
    })
  ]);

  meta = {
    # The type accepts only members of lib.maintainers, which has no entry
    # for this project yet; add it here when the module goes to nixpkgs.
    maintainers = [ ];
    doc = ../docs/nixos.md;
  };
}
