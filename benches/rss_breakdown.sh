#!/usr/bin/env bash
# Where vrrpd's resident set goes: one vrrpd master (VRRPv3, 10 ms adverts, one VIP) alone
# in a throwaway network namespace (a veth with both ends inside it, documentation
# addresses only), measured after it has run for a while. Prints:
#   - VmRSS, RssAnon and RssFile (/proc/PID/status);
#   - the resident KiB of every mapping (/proc/PID/smaps), named by file;
#   - for the executable, the resident KiB per ELF section (from /proc/PID/pagemap's
#     present bits and `readelf -S`), which separates code, read-only data and the
#     relocated read-only data the loader writes.
# Needs root (netns, pagemap), python3 and binutils' readelf.
#
# Usage: sudo benches/rss_breakdown.sh [--vrrpd PATH] [--seconds N]
set -euo pipefail
vrrpd=target/release/vrrpd
seconds=8
while [ $# -gt 0 ]; do
    case $1 in
        --vrrpd) vrrpd=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) echo "usage: $0 [--vrrpd PATH] [--seconds N]" >&2; exit 2 ;;
    esac
done
vrrpd=$(readlink -f "$vrrpd")
[ -x "$vrrpd" ] || { echo "no executable at $vrrpd (cargo build --release)" >&2; exit 2; }

ns="vrrpd-rss-$$"
dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link add eth0 type veth peer name peer0
ip -n "$ns" link set lo up
ip -n "$ns" link set eth0 up
ip -n "$ns" link set peer0 up
ip -n "$ns" addr add 192.0.2.41/24 dev eth0
cat > "$dir/config.json" <<'EOF'
{"instances": [{"name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
  "priority": 150, "advert_interval_ms": 10, "virtual_addresses": ["192.0.2.40/24"]}]}
EOF
ip netns exec "$ns" "$vrrpd" run --config "$dir/config.json" > "$dir/log" 2>&1 &
pid=$!
sleep "$seconds"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "vrrpd exited:" >&2; cat "$dir/log" >&2; exit 1
fi
grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$pid/status"
echo
echo "resident KiB per mapping:"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name = ($6 == "" ? "[anonymous]" : $6)} /^Rss:/{rss[name] += $2}
     END {for (n in rss) if (rss[n] > 0) printf "%8d  %s\n", rss[n], n}' "/proc/$pid/smaps" |
    sort -rn
echo
echo "resident KiB of $vrrpd per section:"
python3 - "$pid" "$vrrpd" <<'EOF'
import collections, re, struct, subprocess, sys
pid, exe = int(sys.argv[1]), sys.argv[2]
sections = []
listing = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
for match in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", listing):
    name, offset, size = match.group(1), int(match.group(2), 16), int(match.group(3), 16)
    if size:
        sections.append((offset, offset + size, name))
resident = collections.Counter()
with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) < 6 or fields[5] != exe:
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        file_offset = int(fields[2], 16)
        for page in range(low, high, 4096):
            pagemap.seek(page // 4096 * 8)
            if struct.unpack("<Q", pagemap.read(8))[0] >> 63:
                start = file_offset + page - low
                # A page shared by two sections counts for the first that overlaps it.
                name = next((n for s, e, n in sections if s < start + 4096 and start < e), "?")
                resident[name] += 4
for name, kib in resident.most_common():
    print(f"{kib:8d}  {name}")
EOF
