#!/usr/bin/env bash
# Captures what keepalived puts on the wire, into tests/data/keepalived-2.2.7.pcap: the
# provenance of the keepalived bytes in src/core/packet.rs, ip.rs and arp.rs, which
# tests/keepalived_capture.rs finds again in that file and decodes with vrrpd's codec.
#
#   sudo tests/capture-keepalived-packets.sh [OUTPUT.pcap]
#
# Needs root, iproute2, keepalived 2.2.7 (Debian's package) and tshark. Everything runs in
# two network namespaces created here, joined by one veth pair and removed on every exit
# path: `ka` runs keepalived alone (so it becomes master after its Master_Down_Interval),
# `cap` runs tshark on the peer end. Addresses are documentation ones only (192.0.2.0/24,
# 2001:db8::/32). keepalived's end gets, per phase, the MAC the unit tests were written
# with (the frames and the IPv6 checksums depend on it):
#   1. VRRPv2, auth_type PASS "password", VRID 50, priority 150, 1 s, VIP 192.0.2.40:
#      adverts, the gratuitous ARP on becoming master, the priority-0 advert on SIGTERM
#      (MAC 46:23:bc:5c:c7:60);
#   2. the same with `version 3` (VRRPv3 over IPv4);
#   3. VRRPv3 over IPv6, VIPs fe80::40 and 2001:db8::40: adverts from the EUI-64
#      link-local address fe80::dc56:d7ff:fe87:bc12 (MAC de:56:d7:87:bc:12);
#   4. the same instance with MAC ea:70:7f:cb:a6:54: its unsolicited neighbour
#      advertisements on becoming master.
# Takes about 40 s.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
output=${1:-$repo/tests/data/keepalived-2.2.7.pcap}
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip keepalived tshark; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

prefix="vcap$$"
ka="$prefix-ka" cap="$prefix-cap"
work=$(mktemp -d)
tshark_pid=""
cleanup() {
  set +e
  [ -n "$tshark_pid" ] && kill "$tshark_pid" 2>/dev/null && wait "$tshark_pid" 2>/dev/null
  for pid in $(ip netns pids "$ka" 2>/dev/null) $(ip netns pids "$cap" 2>/dev/null); do
    kill -9 "$pid" 2>/dev/null
  done
  ip netns delete "$ka" 2>/dev/null
  ip netns delete "$cap" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s, fails after SECONDS.
wait_for() {
  local tries=$(( $1 * 10 )); shift
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.1
  done
}

ip netns add "$ka"
ip netns add "$cap"
ip -n "$ka" link add eth0 type veth peer name eth0 netns "$cap"
ip -n "$ka" addr add 192.0.2.41/24 dev eth0
ip -n "$ka" addr add 2001:db8::41/64 dev eth0 nodad
for ns in "$ka" "$cap"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done

ip netns exec "$cap" tshark -q -i eth0 -F pcap -w "$work/capture.pcap" \
  -f 'ip proto 112 or ip6 proto 112 or arp or (icmp6 and ip6[40] == 136)' \
  >"$work/tshark.log" 2>&1 &
tshark_pid=$!
wait_for 10 grep -q "Capturing on" "$work/tshark.log"

set_mac() {
  ip -n "$ka" link set eth0 down
  ip -n "$ka" link set eth0 address "$1"
  ip -n "$ka" link set eth0 up
  # The link-local address (from the MAC) must be usable before keepalived starts.
  wait_for 10 sh -c "ip -n $ka -6 addr show dev eth0 scope link | grep -q 'fe80::' && \
    ! ip -n $ka -6 addr show dev eth0 | grep -q tentative"
}

# run_keepalived NAME VIP CONF: starts keepalived, waits until it holds VIP (master) and
# has sent a few adverts, stops it with SIGTERM (its priority-0 advert) and waits for it.
run_keepalived() {
  local name=$1 vip=$2 conf=$work/$1.conf
  cat >"$conf"
  ip netns exec "$ka" keepalived -n -l -f "$conf" -p "$work/$name.pid" \
    -r "$work/$name-vrrp.pid" -c "$work/$name-check.pid" --vrrp >"$work/$name.log" 2>&1 &
  local pid=$!
  wait_for 15 sh -c "ip -n $ka addr show dev eth0 | grep -q ' $vip/'"
  sleep 2.5
  kill -TERM "$pid"
  wait_for 10 sh -c "! kill -0 $pid"
  wait "$pid" || true
  echo "$name: done (keepalived log: $(grep -c . "$work/$name.log") lines)"
}

v4_instance() {
  cat <<EOF
global_defs {
    router_id capture
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    version $1
    virtual_router_id 50
    priority 150
    advert_int 1
$2    virtual_ipaddress {
        192.0.2.40
    }
}
EOF
}

v6_instance() {
  cat <<EOF
global_defs {
    router_id capture
}
vrrp_instance VI_6 {
    state BACKUP
    interface eth0
    version 3
    virtual_router_id 50
    priority 150
    advert_int 1
    virtual_ipaddress {
        fe80::40/64
        2001:db8::40/64
    }
}
EOF
}

pass='    authentication {
        auth_type PASS
        auth_pass password
    }
'
set_mac 46:23:bc:5c:c7:60
v4_instance 2 "$pass" | run_keepalived v2-pass 192.0.2.40
v4_instance 3 "" | run_keepalived v3-ipv4 192.0.2.40
set_mac de:56:d7:87:bc:12
v6_instance | run_keepalived v3-ipv6 2001:db8::40
set_mac ea:70:7f:cb:a6:54
v6_instance | run_keepalived v3-ipv6-na 2001:db8::40

sleep 0.5
kill "$tshark_pid"
wait "$tshark_pid" 2>/dev/null || true
tshark_pid=""
mkdir -p "$(dirname "$output")"
cp "$work/capture.pcap" "$output"
echo "wrote $output ($(stat -c %s "$output") bytes):"
tshark -r "$output" 2>/dev/null | sed 's/^/  /'
