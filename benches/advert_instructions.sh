#!/usr/bin/env bash
# User-space instructions per advert at 10 ms VRRPv3 adverts, vrrpd against keepalived,
# counted by valgrind's callgrind: a figure that, unlike CPU time on a shared VM, does not
# move with the machine's noise (the same binary gives the same count within a few per
# cent), so the two daemons' own work per advert can be compared exactly.
#
# Each daemon runs as a master (priority 255) and a backup (priority 100) in two network
# namespaces joined by a veth, documentation addresses only, twice: for SHORT and for LONG
# seconds of adverts. Each run's instructions are counted from start to exit over every
# process (keepalived's VRRP child included). Start-up and exit cost the same in both runs,
# so the difference between them, divided by the difference in adverts (the master's
# transmitted and the backup's received packets on the veth), is the steady state's cost
# per advert. No counter is zeroed or dumped mid-run: that does not reach keepalived's
# forked child.
#
# Under valgrind each daemon runs many times slower; at 10 ms adverts both keep up once
# started (the script fails if the backup takes over during the window: a missed advert).
#
# Usage: sudo benches/advert_instructions.sh [--vrrpd PATH] [--short S] [--long S]
set -euo pipefail
vrrpd=target/release/vrrpd
short=5
long=25
while [[ $# -gt 0 ]]; do
    case $1 in
        --vrrpd) vrrpd=$2; shift 2 ;;
        --short) short=$2; shift 2 ;;
        --long) long=$2; shift 2 ;;
        *) echo "advert_instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
vrrpd=$(realpath "$vrrpd")
prefix="vinst$$"
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    pids=()
    ip netns del "$prefix-m" 2>/dev/null || true
    ip netns del "$prefix-b" 2>/dev/null || true
}
trap 'cleanup; rm -rf "$dir"' EXIT INT TERM

vrrpd_config() { # name priority
    cat <<JSON
{ "control_socket": "$dir/$1.sock",
  "instances": [ { "name": "$1", "interface": "eth0", "virtual_router_id": 51, "version": 3,
    "priority": $2, "advert_interval_ms": 10, "virtual_addresses": ["192.0.2.40/24"] } ] }
JSON
}
keepalived_config() { # name priority
    cat <<CONF
global_defs {
    router_id $1
}
vrrp_instance $1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority $2
    advert_int 0.01
    virtual_ipaddress { 192.0.2.40/24 }
}
CONF
}
counter() { # namespace statistic
    ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"
}
# Sum of the instructions callgrind counted in the output files starting with $1.
instructions() {
    local total=0 file count
    for file in "$1".*; do
        count=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
        total=$((total + ${count:-0}))
    done
    echo "$total"
}
# One run (not in a subshell: it tracks the daemons in `pids`): prints "master_instructions master_adverts backup_instructions backup_adverts".
run() { # implementation seconds
    local impl=$1 seconds=$2 out="$dir/$1.$2"
    mkdir -p "$out"
    ip netns add "$prefix-m"
    ip netns add "$prefix-b"
    ip link add eth0 netns "$prefix-m" type veth peer name eth0 netns "$prefix-b"
    ip -n "$prefix-m" addr add 192.0.2.1/24 dev eth0
    ip -n "$prefix-b" addr add 192.0.2.2/24 dev eth0
    ip -n "$prefix-m" link set eth0 up
    ip -n "$prefix-b" link set eth0 up
    for role in backup:100 master:255; do
        local name=${role%%:*} priority=${role##*:}
        local grind=(valgrind --tool=callgrind "--callgrind-out-file=$out/$name.%p")
        if [[ $impl == vrrpd ]]; then
            vrrpd_config "$name" "$priority" >"$out/$name.json"
            VRRPD_SCHEMA_CHECK=in-process ip netns exec "$prefix-${name:0:1}" "${grind[@]}" \
                "$vrrpd" run -c "$out/$name.json" 2>"$out/$name.log" &
        else
            keepalived_config "$name" "$priority" >"$out/$name.conf"
            ip netns exec "$prefix-${name:0:1}" "${grind[@]}" keepalived -n -l -P \
                -f "$out/$name.conf" -p "$out/$name.pid" -r "$out/$name.vrrp.pid" \
                >"$out/$name.log" 2>&1 &
        fi
        pids+=($!)
        sleep 1
    done
    # Start-up under valgrind (slow enough that the backup may flip once or twice while
    # the master starts), then the window, in which it must not.
    sleep 8
    local takeovers
    takeovers=$(grep -c "Entering MASTER STATE" "$out/backup.log" || true)
    sleep "$seconds"
    # Read before the namespaces go; the few adverts until the daemons exit are about
    # as many in both runs, so they cancel out.
    local master_adverts backup_adverts
    master_adverts=$(counter "$prefix-m" tx_packets)
    backup_adverts=$(counter "$prefix-b" rx_packets)
    cleanup
    if (($(grep -c "Entering MASTER STATE" "$out/backup.log" || true) > takeovers)); then
        echo "advert_instructions.sh: the $impl backup took over again: it missed adverts" >&2
        grep "Entering" "$out/backup.log" >&2
        exit 1
    fi
    echo "$(instructions "$out/master") $master_adverts $(instructions "$out/backup") $backup_adverts"
}

printf '%s\n' "Instructions per advert (callgrind; runs of ${short} s and ${long} s, slope between them)." ""
printf '%s\n' "| Daemon | master | backup |" "|---|---:|---:|"
for impl in ${ONLY:-keepalived vrrpd}; do
    run "$impl" "$short" >"$dir/$impl.short"
    run "$impl" "$long" >"$dir/$impl.long"
    read -r m1 ma1 b1 ba1 <"$dir/$impl.short"
    read -r m2 ma2 b2 ba2 <"$dir/$impl.long"
    per() { # instructions1 adverts1 instructions2 adverts2
        if (($4 <= $2)); then echo "?"; else echo $((($3 - $1) / ($4 - $2))); fi
    }
    echo "| $impl | $(per "$m1" "$ma1" "$m2" "$ma2") | $(per "$b1" "$ba1" "$b2" "$ba2") |"
    echo "$impl: master $m1 instructions/$ma1 adverts and $m2/$ma2; backup $b1/$ba1 and $b2/$ba2" >&2
done
