# Test cases for tests/nixos-module-eval.sh.
#
# good.<name>.modules: a configuration that must evaluate without failed assertions.
# bad.<name>.modules:  a configuration that must fail, with `message` (a substring)
#                      among the failed assertions.
{ lib }:

let
  # The user's keepalived pair (lb01/lb02, VRID 50, VIP 192.168.0.40, PASS
  # "password", advert_int 1, vrrp_garp_master_refresh 60), as documented in
  # docs/nixos.md.
  userPair = {
    services.vrrp = {
      enable = true;
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

    # Unicast: the other node's address is the peer, the local one the source.
    unicast.modules = on "lb02" { services.vrrp.unicast = true; };

    noConfigCheck.modules = on "lb01" { services.vrrp.checkConfig = false; };

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
    negativeWatchdog = {
      modules = on "lb01" { services.vrrp.watchdogSec = -1; };
      message = "services.vrrp.watchdogSec must be 0 (off) or a positive number of seconds.";
    };
  };
}
