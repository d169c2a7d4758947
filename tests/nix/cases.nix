# Test cases for tests/nixos-module-eval.sh.
#
# good.<name>.modules: a configuration that must evaluate without failed assertions.
# bad.<name>.modules:  a configuration that must fail, with `message` (a substring)
#                      among the failed assertions.
{ lib }:

let
  # The user's keepalived pair (lb01/lb02, VRID 50, VIP 192.168.0.40, PASS
  # "password", advert_int 1, vrrp_garp_master_refresh 60), as documented in
  # docs/nixos.md: preset "keepalived" keeps VRRPv2 at 1 s.
  userPair = {
    services.vrrp = {
      enable = true;
      # The pair runs next to keepalived nodes during the migration.
      preset = "keepalived";
      interface = "eth0";
      virtualRouterId = 50;
      virtualAddresses = [ "192.168.0.40" ];
      authentication.password = "password";
      garpMasterRefreshSeconds = 60;
      nodes = {
        lb01 = {
          address = "192.168.0.41";
          priority = 150;
        };
        lb02 = {
          address = "192.168.0.42";
          priority = 100;
        };
      };
    };
  };

  on = hostName: extra: [
    userPair
    { networking.hostName = hostName; }
    extra
  ];

  caddyHealth = {
    services.vrrp = {
      healthChecks.caddy = {
        check = {
          type = "http";
          url = "https://127.0.0.1:443/";
          server_name = "www.example.org";
          verify_tls = false;
        };
        intervalMs = 1000;
        timeoutMs = 1000;
        rise = 2;
        fall = 3;
        weight = -60;
      };
      metricsListen = "127.0.0.1:9650";
    };
  };

  noPassword = {
    services.vrrp.authentication.password = lib.mkForce null;
  };

  # A pair that runs vrrpd on both nodes, with no keepalived defaults in the way.
  vrrpdPair = hostName: extra: [
    {
      networking.hostName = hostName;
      services.vrrp = {
        enable = true;
        interface = "eth0";
        nodes = {
          lb01 = {
            address = "192.168.0.41";
            address6 = "2001:db8::41";
            priority = 150;
          };
          lb02 = {
            address = "192.168.0.42";
            address6 = "2001:db8::42";
            priority = 100;
          };
        };
      };
    }
    extra
  ];
  shortForm = {
    services.vrrp = {
      virtualRouterId = 50;
      virtualAddresses = [ "192.168.0.40" ];
    };
  };

  # docs/nixos.md's dual-stack pair.
  dualStack = {
    services.vrrp = {
      instances.v4 = {
        virtualRouterId = 50;
        virtualAddresses = [ "192.0.2.40" ];
      };
      instances.v6 = {
        virtualRouterId = 50;
        virtualAddresses = [
          "fe80::40"
          "2001:db8::40"
        ];
      };
      syncGroups.frontend = [
        "v4"
        "v6"
      ];
      openFirewall = true;
    };
    networking.nftables.enable = true;
  };

  # What NixOS makes of networking.useNetworkd with networking.interfaces.eth0
  # (nixos/modules/tasks/network-interfaces-systemd.nix): the entry "40-eth0", matched
  # by `name`.
  networkdEth0 = {
    networking.useNetworkd = true;
    networking.interfaces.eth0.ipv4.addresses = [
      {
        address = "192.168.0.41";
        prefixLength = 24;
      }
    ];
    systemd.network.networks."40-eth0" = {
      name = "eth0";
      address = [ "192.168.0.41/24" ];
    };
  };
  # A hand-written entry for eth0 (no networking.interfaces).
  ownNetworkdEntry = name: {
    systemd.network.enable = true;
    systemd.network.networks."10-lan" = {
      matchConfig.Name = name;
      address = [ "192.168.0.41/24" ];
    };
  };
in
{
  good = {
    lb01.modules = on "lb01" { };
    lb02.modules = on "lb02" { };

    # The secret comes from a file at start; the store only has a placeholder.
    passwordFile.modules = on "lb01" {
      imports = [ noPassword ];
      services.vrrp.authentication.passwordFile = "/run/secrets/vrrp-password";
    };

    # localNode overrides the host name.
    localNode.modules = on "some-other-name" { services.vrrp.localNode = "lb02"; };

    noPreempt.modules = on "lb02" { services.vrrp.preempt = false; };

    virtualMacLooseReversePath.modules = on "lb01" {
      services.vrrp.useVirtualMac = true;
      networking.firewall.checkReversePath = "loose";
    };

    # issue 13 §1: an address on another interface (keepalived `dev`), an untracked
    # one, and the RFC's virtual MAC (keepalived `use_vmac`).
    addressInterfacesAndVirtualMac.modules = on "lb01" {
      services.vrrp = {
        useVirtualMac = true;
        virtualAddresses = lib.mkForce [
          "192.168.0.40"
          {
            address = "198.51.100.7/24";
            interface = "eth1";
          }
          {
            address = "198.51.100.8/24";
            interface = "eth2";
            track = false;
          }
        ];
      };
    };

    # A process health check needs other users' processes visible: ProtectProc=default.
    processCheck.modules = on "lb01" {
      services.vrrp.healthChecks.caddy = {
        check = {
          type = "process";
          name = "caddy";
        };
        weight = -60;
      };
    };

    instanceSettings.modules = on "lb01" {
      services.vrrp.instanceSettings = {
        preempt_delay_s = 30;
        garp_burst_count = 3;
        # Overrides a rendered key, recursively.
        authentication.password = "other";
      };
    };

    settingsReplacesInstances.modules = on "lb01" {
      services.vrrp.settings.instances = [
        {
          name = "ONLY";
          interface = "eth9";
          virtual_router_id = 7;
          priority = 10;
          virtual_addresses = [ "192.0.2.1" ];
        }
      ];
    };

    version3.modules = on "lb01" {
      imports = [ noPassword ];
      services.vrrp = {
        version = 3;
        advertIntervalMs = 100;
      };
    };

    firewallIptables.modules = on "lb01" { services.vrrp.openFirewall = true; };
    firewallNftables.modules = on "lb01" {
      services.vrrp.openFirewall = true;
      networking.nftables.enable = true;
    };

    watchdogOff.modules = on "lb01" { services.vrrp.watchdogSec = 0; };
    realtimeOff.modules = on "lb01" { services.vrrp.realtimePriority = null; };
    lockMemory.modules = on "lb01" { services.vrrp.lockMemory = true; };

    # Unicast: the other node's address is the peer, the local one the source.
    unicast.modules = on "lb02" { services.vrrp.unicast = true; };

    noConfigCheck.modules = on "lb01" { services.vrrp.checkConfig = false; };

    # The defaults when every node runs vrrpd, and what overrides them.
    fastDefault.modules = vrrpdPair "lb01" shortForm;
    version2Only.modules = vrrpdPair "lb01" {
      imports = [ shortForm ];
      services.vrrp.version = 2;
    };
    keepalivedPresetVersion3.modules = vrrpdPair "lb01" {
      imports = [ shortForm ];
      services.vrrp = {
        preset = "keepalived";
        version = 3;
      };
    };
    intervalOnly.modules = vrrpdPair "lb01" {
      imports = [ shortForm ];
      services.vrrp.advertIntervalMs = 200;
    };

    dualStack.modules = vrrpdPair "lb02" dualStack;

    severalInstances.modules = vrrpdPair "lb01" (
      { pkgs, ... }:
      {
        services.vrrp = {
          openFirewall = true;
          extraPackages = [
            (pkgs.fakePackage "curl")
            (pkgs.fakePackage "systemd")
          ];
          healthChecks.caddy = {
            check = {
              type = "tcp";
              address = "127.0.0.1:443";
            };
            weight = -60;
          };
          notify.backup = [ "/bin/false" ];
          instanceSettings.preempt_delay_s = 30;
          instances.public = {
            virtualRouterId = 50;
            virtualAddresses = [ "192.0.2.40" ];
          };
          instances.internal = {
            interface = "eth1";
            virtualRouterId = 51;
            virtualAddresses = [ "198.51.100.40" ];
            version = 2;
            advertIntervalMs = 2000;
            preempt = false;
            priorities = {
              lb01 = 90;
              lb02 = 110;
            };
            track = { };
            notify.master = [ "/bin/true" ];
            settings.garp_burst_count = 3;
          };
        };
      }
    );

    passwordOnVersion2Instance.modules = vrrpdPair "lb01" {
      services.vrrp = {
        authentication.passwordFile = "/run/secrets/vrrp-password";
        instances.v4 = {
          version = 2;
          virtualRouterId = 50;
          virtualAddresses = [ "192.0.2.40" ];
        };
        instances.v6 = {
          virtualRouterId = 50;
          virtualAddresses = [
            "fe80::40"
            "2001:db8::40"
          ];
        };
      };
    };

    # Dual stack in unicast mode: each node has an IPv4 and an IPv6 address, and each
    # family's instance takes its source and peers from the matching one.
    ipv6Unicast.modules = vrrpdPair "lb02" {
      imports = [ dualStack ];
      services.vrrp.unicast = true;
    };

    unicastInstances.modules = vrrpdPair "lb01" {
      services.vrrp = {
        unicast = true;
        instances.v4 = {
          virtualRouterId = 50;
          virtualAddresses = [ "192.0.2.40" ];
        };
      };
    };

    # systemd-networkd manages the VRRP interface: KeepConfiguration=static on its entry.
    networkdKeep.modules = on "lb01" networkdEth0;
    networkdKeepOff.modules = on "lb01" {
      imports = [ networkdEth0 ];
      services.vrrp.networkd.keepConfiguration = false;
    };
    networkdOwnValueWins.modules = on "lb01" {
      imports = [ networkdEth0 ];
      systemd.network.networks."40-eth0".networkConfig.KeepConfiguration = "yes";
    };
    # networkd on, but eth0 is not one of networking.interfaces: nothing to set.
    networkdOtherInterface.modules = on "lb01" {
      imports = [ networkdEth0 ];
      networking.interfaces = lib.mkForce { eth1 = { }; };
      systemd.network.networks = lib.mkForce { };
    };
    networkdOwnEntry.modules = on "lb01" {
      imports = [ (ownNetworkdEntry "eth0") ];
      services.vrrp.networkd.networks = [ "10-lan" ];
    };
    # An entry that matches eth0 by a glob and is not listed: a warning names it.
    networkdUncovered.modules = on "lb01" (ownNetworkdEntry "en* eth*");

    # examples/lb01-caddy-health.json and lb02: the pair following Caddy.
    caddyHealthLb01.modules = on "lb01" caddyHealth;
    caddyHealthLb02.modules = on "lb02" caddyHealth;
  };

  bad = {
    unicastWithoutAddress = {
      modules = on "lb01" {
        services.vrrp.unicast = true;
        services.vrrp.nodes.lb02.address = lib.mkForce null;
      };
      message = "services.vrrp.unicast is on, but lb02 has no address";
    };
    hostNotInNodes = {
      modules = on "lb03" { };
      message = ''services.vrrp.nodes has no entry for this host: services.vrrp.localNode (by default networking.hostName) is "lb03", the nodes are: lb01, lb02.'';
    };
    sharedPriority = {
      modules = on "lb01" { services.vrrp.nodes.lb02.priority = lib.mkForce 150; };
      message = "services.vrrp.nodes: lb01 and lb02 (priority 150) share a priority.";
    };
    vridZero = {
      modules = on "lb01" { services.vrrp.virtualRouterId = lib.mkForce 0; };
      message = "services.vrrp.virtualRouterId is 0, but a VRID must be between 1 and 255";
    };
    vridTooLarge = {
      modules = on "lb01" { services.vrrp.virtualRouterId = lib.mkForce 256; };
      message = "services.vrrp.virtualRouterId is 256, but a VRID must be between 1 and 255";
    };
    priorityZero = {
      modules = on "lb01" { services.vrrp.nodes.lb02.priority = lib.mkForce 0; };
      message = "services.vrrp.nodes: priority must be between 1 and 255 (0 is reserved for a master that leaves, RFC 5798 §5.2.4); lb02 has 0.";
    };
    priorityTooLarge = {
      modules = on "lb01" { services.vrrp.nodes.lb01.priority = lib.mkForce 256; };
      message = "priority must be between 1 and 255 (0 is reserved for a master that leaves, RFC 5798 §5.2.4); lb01 has 256.";
    };
    noVirtualAddresses = {
      modules = on "lb01" { services.vrrp.virtualAddresses = lib.mkForce [ ]; };
      message = "services.vrrp.virtualAddresses is empty";
    };
    emptyInterface = {
      modules = on "lb01" { services.vrrp.interface = lib.mkForce ""; };
      message = "services.vrrp.interface is empty";
    };
    passwordFileWithVersion3 = {
      modules = on "lb01" {
        imports = [ noPassword ];
        services.vrrp = {
          version = 3;
          authentication.passwordFile = "/run/secrets/vrrp-password";
        };
      };
      message = "services.vrrp.authentication is set, but version is 3: VRRPv3 (RFC 5798) has no authentication.";
    };
    passwordWithVersion3 = {
      modules = on "lb01" { services.vrrp.version = 3; };
      message = "services.vrrp.authentication is set, but version is 3";
    };
    passwordAndPasswordFile = {
      modules = on "lb01" {
        services.vrrp.authentication.passwordFile = "/run/secrets/vrrp-password";
      };
      message = "services.vrrp.authentication: set either password or passwordFile, not both.";
    };
    passwordTooLong = {
      modules = on "lb01" { services.vrrp.authentication.password = lib.mkForce "password1"; };
      message = "services.vrrp.authentication.password is longer than 8 bytes";
    };
    relativePasswordFile = {
      modules = on "lb01" {
        imports = [ noPassword ];
        services.vrrp.authentication.passwordFile = "secrets/vrrp";
      };
      message = "services.vrrp.authentication.passwordFile must be an absolute path";
    };
    version2SubSecondInterval = {
      modules = on "lb01" { services.vrrp.advertIntervalMs = 500; };
      message = "services.vrrp.advertIntervalMs is 500, but VRRPv2 carries the interval in whole seconds";
    };
    version3IntervalNotCentiseconds = {
      modules = on "lb01" {
        imports = [ noPassword ];
        services.vrrp = {
          version = 3;
          advertIntervalMs = 15;
        };
      };
      message = "services.vrrp.advertIntervalMs is 15, but VRRPv3 carries the interval in centiseconds";
    };
    # The documented pair without preset = "keepalived": VRRPv3 has no password.
    defaultVersionWithPassword = {
      modules = on "lb01" { services.vrrp.preset = lib.mkForce "vrrpd"; };
      message = ''services.vrrp.authentication is set, but version is 3: VRRPv3 (RFC 5798) has no authentication. In a group that still has keepalived nodes set services.vrrp.preset = "keepalived"'';
    };
    passwordWithoutVersion2Instance = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.authentication.password = "password";
      };
      message = "services.vrrp.authentication is set, but no instance of services.vrrp.instances is VRRPv2 (v4: version 3, v6: version 3)";
    };
    shortFormAndInstances = {
      modules = vrrpdPair "lb01" {
        imports = [
          shortForm
          dualStack
        ];
      };
      message = "services.vrrp: virtualRouterId and virtualAddresses are the short form of one instance, but services.vrrp.instances is set too (v4, v6)";
    };
    noVirtualRouterId = {
      modules = vrrpdPair "lb01" { services.vrrp.virtualAddresses = [ "192.0.2.40" ]; };
      message = "services.vrrp.virtualRouterId is not set";
    };
    instanceWithoutInterface = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.interface = lib.mkForce null;
      };
      message = "services.vrrp.instances.v4.interface is not set: name the interface";
    };
    mixedFamilies = {
      modules = vrrpdPair "lb01" {
        services.vrrp.instances.both = {
          virtualRouterId = 50;
          virtualAddresses = [
            "192.0.2.40"
            "2001:db8::40"
          ];
        };
      };
      message = "services.vrrp.instances.both.virtualAddresses mixes IPv4 and IPv6 addresses";
    };
    ipv6WithoutLinkLocalFirst = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.virtualAddresses = lib.mkForce [ "2001:db8::40" ];
      };
      message = ''services.vrrp.instances.v6.virtualAddresses starts with 2001:db8::40, but an IPv6 instance's first virtual address must be a link-local one (fe80::/10, RFC 5798 §5.2.9), e.g. [ "fe80::40" "2001:db8::40" ].'';
    };
    ipv6WithVersion2 = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.version = 2;
      };
      message = "services.vrrp.instances.v6.version is 2, but services.vrrp.instances.v6.virtualAddresses are IPv6: VRRPv2 (RFC 3768) is IPv4 only.";
    };
    instanceIntervalProblem = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v4.advertIntervalMs = 105;
      };
      message = "services.vrrp.instances.v4.advertIntervalMs is 105, but VRRPv3 carries the interval in centiseconds";
    };
    instanceVridTooLarge = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.virtualRouterId = lib.mkForce 300;
      };
      message = "services.vrrp.instances.v6.virtualRouterId is 300, but a VRID must be between 1 and 255";
    };
    syncGroupUnknownInstance = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.syncGroups.frontend = lib.mkForce [
          "v4"
          "v7"
        ];
      };
      message = "services.vrrp.syncGroups.frontend is [ v4 v7 ]: a sync group needs at least two distinct instances, each one of services.vrrp.instances (v4, v6).";
    };
    syncGroupOneMember = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.syncGroups.frontend = lib.mkForce [ "v4" ];
      };
      message = "services.vrrp.syncGroups.frontend is [ v4 ]: a sync group needs at least two distinct instances";
    };
    instanceInTwoSyncGroups = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v4b = {
          virtualRouterId = 51;
          virtualAddresses = [ "192.0.2.41" ];
        };
        services.vrrp.syncGroups.other = [
          "v4"
          "v4b"
        ];
      };
      message = "services.vrrp.syncGroups: an instance belongs to at most one sync group; v4 is in several.";
    };
    unknownTrack = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v4.track.nginx = -50;
      };
      message = "services.vrrp.instances.v4.track names nginx, but services.vrrp.healthChecks has no such check";
    };
    priorityOverrideUnknownNode = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.priorities.lb03 = 120;
      };
      message = "services.vrrp.instances.v6.priorities names lb03, which is not in services.vrrp.nodes (the nodes are: lb01, lb02).";
    };
    priorityOverrideClash = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.priorities.lb02 = 150;
      };
      message = "services.vrrp.instances.v6 (services.vrrp.nodes and services.vrrp.instances.v6.priorities): lb01 and lb02 (priority 150) share a priority.";
    };
    priorityOverrideOutOfRange = {
      modules = vrrpdPair "lb01" {
        imports = [ dualStack ];
        services.vrrp.instances.v6.priorities.lb02 = 256;
      };
      message = "services.vrrp.instances.v6.priorities: priority must be between 1 and 255; lb02 has 256.";
    };
    ipv6UnicastWithoutAddress6 = {
      modules = vrrpdPair "lb02" {
        imports = [ dualStack ];
        services.vrrp.unicast = true;
        services.vrrp.nodes.lb01.address6 = lib.mkForce null;
      };
      message = "services.vrrp.instances.v6.unicast is on, but lb01 has no address6: in unicast mode every node's services.vrrp.nodes.<name>.address6 is where the others send their advertisements (an IPv6 instance uses address6)";
    };
    instanceUnicastWithoutAddress = {
      modules = vrrpdPair "lb01" {
        services.vrrp.unicast = true;
        services.vrrp.nodes.lb02.address = lib.mkForce null;
        services.vrrp.instances.v4 = {
          virtualRouterId = 50;
          virtualAddresses = [ "192.0.2.40" ];
        };
      };
      message = "services.vrrp.instances.v4.unicast is on, but lb02 has no address";
    };
    firewalld = {
      modules = on "lb01" {
        services.vrrp.openFirewall = true;
        services.firewalld.enable = true;
      };
      message = "services.vrrp.openFirewall does not support the firewalld backend (networking.firewall.backend = \"firewalld\"): allow VRRP (IP protocol 112) on eth0 in firewalld yourself";
    };
    networkdUnknownEntry = {
      modules = on "lb01" {
        imports = [ networkdEth0 ];
        services.vrrp.networkd.networks = [ "10-nope" ];
      };
      message = "services.vrrp.networkd.networks names 10-nope, but systemd.network.networks has no such entry with a matchConfig (the entries that match interfaces: 40-eth0)";
    };
    networkdEntryWithoutMatch = {
      modules = on "lb01" {
        systemd.network.enable = true;
        systemd.network.networks."10-lan".address = [ "192.168.0.41/24" ];
        services.vrrp.networkd.networks = [ "10-lan" ];
      };
      message = "services.vrrp.networkd.networks names 10-lan, but systemd.network.networks has no such entry with a matchConfig (none of its entries matches an interface); KeepConfiguration= alone would make a .network file without [Match]";
    };
    negativeWatchdog = {
      modules = on "lb01" { services.vrrp.watchdogSec = -1; };
      message = "services.vrrp.watchdogSec must be 0 (off) or a positive number of seconds.";
    };
  };
}
