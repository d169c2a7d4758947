# NixOS VM test: the user's pair (lb01 MASTER, lb02 BACKUP) and a client on one
# VLAN, with documentation addresses (RFC 5737, RFC 3849), dual stack: an IPv4
# instance at VRRPv2 with a passwordFile (as next to keepalived) and an IPv6
# instance at the module's default, VRRPv3 at 100 ms.
#
#   nix build .#checks.x86_64-linux.vm-test -L
#
# - both VIPs are on lb01 and the client reaches them (its neighbour entries
#   are lb01's MAC);
# - lb01's cable is pulled: both VIPs move to lb02 and the client reaches them;
# - lb01's cable is back: lb01 preempts;
# - the daemon is frozen with SIGSTOP: systemd's watchdog restarts it;
# - `systemctl reload vrrpd` with the passwordFile keeps the daemon and the
#   VIPs, never deletes them, and the runtime config still has the secret
#   (systemd 258 gives ExecReload= no credentials).
#
# lb01 uses the iptables firewall and lb02 the nftables one, so `openFirewall`
# is exercised for both: without the rule the adverts are dropped and both
# nodes would hold the VIP, which `wait_for_master` catches.
{
  pkgs,
  nixosModule,
}:

let
  vip = "192.0.2.100";
  vip6 = "2001:db8::100";
  addresses = {
    lb01 = "192.0.2.1";
    lb02 = "192.0.2.2";
    client = "192.0.2.10";
  };
  addresses6 = {
    lb01 = "2001:db8::1";
    lb02 = "2001:db8::2";
    client = "2001:db8::10";
  };

  # The test framework numbers the VLAN addresses 192.168.1.N; use 192.0.2.0/24.
  documentationAddress =
    name:
    { lib, ... }:
    {
      virtualisation.vlans = [ 1 ];
      networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
        {
          address = addresses.${name};
          prefixLength = 24;
        }
      ];
      networking.interfaces.eth1.ipv6.addresses = lib.mkForce [
        {
          address = addresses6.${name};
          prefixLength = 64;
        }
      ];
      networking.primaryIPAddress = lib.mkForce addresses.${name};
    };

  # The same block on both load balancers: networking.hostName (set by the test
  # framework to the node name) picks the node's priority.
  loadBalancer =
    name:
    { pkgs, ... }:
    {
      imports = [
        nixosModule
        (documentationAddress name)
      ];

      services.vrrp = {
        enable = true;
        interface = "eth1";
        # A store path only because this is a test; real secrets live outside
        # the store (agenix, sops-nix, a file written by hand).
        authentication.passwordFile = "${pkgs.writeText "vrrp-password" "password\n"}";
        garpMasterRefreshSeconds = 60;
        watchdogSec = 5;
        openFirewall = true;
        nodes = {
          lb01 = {
            address = addresses.lb01;
            address6 = addresses6.lb01;
            priority = 150;
          };
          lb02 = {
            address = addresses.lb02;
            address6 = addresses6.lb02;
            priority = 100;
          };
        };
        # VRRPv2 at 1 s with the password, as next to keepalived.
        instances.v4 = {
          version = 2;
          virtualRouterId = 50;
          virtualAddresses = [ vip ];
        };
        # The module's default: VRRPv3 at 100 ms, no password.
        instances.v6 = {
          virtualRouterId = 50;
          # RFC 5798 §5.2.9: an IPv6 instance lists a link-local address first.
          virtualAddresses = [
            "fe80::100"
            vip6
          ];
        };
      };
    };
in
pkgs.testers.runNixOSTest {
  name = "vrrpd";

  nodes = {
    lb01 = loadBalancer "lb01";
    lb02 = {
      imports = [ (loadBalancer "lb02") ];
      networking.nftables.enable = true;
    };
    client = documentationAddress "client";
  };

  testScript = ''
    import shlex

    VIP = "${vip}"
    VIP6 = "${vip6}"
    # No pipe into a grep that can stop early (-q, or output to /dev/null, which
    # GNU grep treats alike): its writer dies of SIGPIPE, and the driver's
    # pipefail turns a match into a failure. Command substitution reads it all.
    HOLDS_VIP4 = f"test -n \"$(ip -4 -o address show dev eth1 to {VIP}/32)\""
    HOLDS_VIP6 = f"test -n \"$(ip -6 -o address show dev eth1 to {VIP6}/128)\""
    HOLDS_VIP = f"{HOLDS_VIP4} && {HOLDS_VIP6}"
    HOLDS_ANY_VIP = f"{{ {HOLDS_VIP4}; }} || {{ {HOLDS_VIP6}; }}"


    def mac_of(machine):
        return machine.succeed("cat /sys/class/net/eth1/address").strip()


    def main_pid(machine):
        return machine.succeed("systemctl show --property MainPID --value vrrpd.service").strip()


    def wait_for_master(master, backup):
        master.wait_until_succeeds(HOLDS_VIP, timeout=30)
        backup.wait_until_fails(HOLDS_ANY_VIP, timeout=30)


    def client_reaches(machine):
        # Forget the old neighbour entries, so the replies must come from `machine`.
        mac = mac_of(machine)
        for family, vip in (("-4", VIP), ("-6", VIP6)):
            client.wait_until_succeeds(
                f"ip {family} neigh flush to {vip} dev eth1; "
                f"ping {family} -c 1 -W 1 {vip} && "
                f"[[ \"$(ip {family} neigh show to {vip} dev eth1)\" == *'lladdr {mac}'* ]]",
                timeout=30,
            )


    def journal_has(machine, pattern):
        # journalctl --grep exits 1 when nothing matches: no pipe to grep -q,
        # whose early exit could kill journalctl with SIGPIPE under pipefail.
        machine.succeed(f"journalctl --unit vrrpd.service --grep {shlex.quote(pattern)} --quiet > /dev/null")


    start_all()
    lb01.wait_for_unit("vrrpd.service")
    lb02.wait_for_unit("vrrpd.service")
    client.wait_for_unit("multi-user.target")

    with subtest("the daemon runs unprivileged, with the secret out of the store"):
        pid = main_pid(lb01)
        lb01.succeed(f"test $(stat -c %u /proc/{pid}) -ne 0")
        lb01.succeed("grep -qF '@SECRET@' /etc/vrrpd/vrrpd.json")
        lb01.succeed("grep -qF '\"password\": \"password\"' /run/vrrpd/vrrpd.json")
        lb01.fail("grep -qF '@SECRET@' /run/vrrpd/vrrpd.json")

    with subtest("openFirewall accepts VRRP on iptables (lb01) and nftables (lb02)"):
        lb01.succeed("iptables -S nixos-fw > /tmp/fw && grep -E -- '-i eth1 -p (112|vrrp) -j nixos-fw-accept' /tmp/fw")
        lb02.succeed("nft list chain inet nixos-fw input-allow > /tmp/fw && grep -E 'meta l4proto (112|vrrp) accept' /tmp/fw")

    with subtest("the VIP is on lb01 and the client reaches it"):
        wait_for_master(lb01, lb02)
        client_reaches(lb01)

    with subtest("lb01 is cut off: the VIP moves to lb02"):
        lb01.block()
        lb02.wait_until_succeeds(HOLDS_VIP, timeout=30)
        client_reaches(lb02)

    with subtest("lb01 comes back and preempts"):
        lb01.unblock()
        wait_for_master(lb01, lb02)
        client_reaches(lb01)

    with subtest("a frozen daemon is restarted by systemd's watchdog"):
        pid = main_pid(lb01)
        restarts = int(lb01.succeed("systemctl show --property NRestarts --value vrrpd.service"))
        lb01.succeed(f"kill -STOP {pid}")
        lb01.wait_until_succeeds(
            f"test $(systemctl show --property NRestarts --value vrrpd.service) -gt {restarts}",
            timeout=120,
        )
        lb01.wait_for_unit("vrrpd.service")
        journal_has(lb01, "Watchdog timeout")
        assert main_pid(lb01) != pid, "the daemon was not replaced"
        wait_for_master(lb01, lb02)
        client_reaches(lb01)

    with subtest("systemctl reload with the passwordFile keeps the daemon, the secret and the VIPs"):
        pid = main_pid(lb01)
        lb01.succeed(
            "ip monitor address > /tmp/address-events 2>&1 & echo $! > /tmp/monitor.pid"
        )
        # The reload runs the prepare script without $CREDENTIALS_DIRECTORY
        # (systemd 258); `systemctl reload` fails if any ExecReload= command does.
        lb01.succeed("sleep 1 && systemctl reload vrrpd.service && sleep 5")
        lb01.succeed("kill $(cat /tmp/monitor.pid)")
        lb01.succeed("grep -F Deleted /tmp/address-events > /tmp/deleted-addresses || true")
        lb01.fail(f"grep -F -e '{VIP}/' -e '{VIP6}/' /tmp/deleted-addresses")
        assert main_pid(lb01) == pid, "reload restarted the daemon"
        lb01.succeed("systemctl is-active vrrpd.service")
        lb01.succeed("grep -qF '\"password\": \"password\"' /run/vrrpd/vrrpd.json")
        lb01.fail("grep -qF '@SECRET@' /run/vrrpd/vrrpd.json")
        lb01.succeed(HOLDS_VIP)
        lb02.fail(HOLDS_ANY_VIP)
        client_reaches(lb01)
  '';
}
