#!/usr/bin/env bash
# `systemd-analyze security` on the shipped unit, offline (no systemd as PID 1 needed;
# systemd >= 250), and the two unit definitions kept in step.
#
#   bash tests/unit-security.sh          # the working tree's packaging/vrrpd.service
#   bash tests/unit-security.sh 72d6295  # also the unit as of a git revision (docs/systemd.md: before ProcSubset=pid)
#
# Fails when the unit is exposed on anything but the items accepted below (each is
# inherent to a daemon that configures the host's network), or when a [Service] key of
# packaging/vrrpd.service is missing from the NixOS module's serviceConfig or the other
# way round (apart from the differences listed). docs/systemd.md quotes its output.
# Exit status 77 (skipped) without a systemd-analyze that has --offline.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
unit=packaging/vrrpd.service
module=nixos-module/default.nix

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze not found (Debian: apt-get install systemd)"
  exit 77
fi
version=$(systemd-analyze --version | awk 'NR == 1 { print $2 }')
if ((version < 250)); then
  echo "SKIPPED: systemd-analyze $version has no --offline (needs 250)"
  exit 77
fi

# Exposures that stay, and why (docs/systemd.md#privileges-and-sandbox).
accepted=(
  "RootDirectory=/RootImage=" # the binary and its config live in the host's tree
  "AmbientCapabilities="      # how a DynamicUser= gets CAP_NET_ADMIN and CAP_NET_RAW
  "RestrictAddressFamilies=~AF_PACKET"     # gratuitous ARP
  "RestrictAddressFamilies=~AF_NETLINK"    # addresses and links
  "RestrictAddressFamilies=~AF_UNIX"       # $NOTIFY_SOCKET, the journal, the control socket
  "RestrictAddressFamilies=~AF_(INET|INET6)" # VRRP itself, TCP and HTTP checks
  "CapabilityBoundingSet=~CAP_NET_ADMIN"   # adding and removing the virtual addresses
  "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)" # the raw VRRP socket
  "PrivateNetwork=" # VRRP runs on the host's network
  "PrivateUsers="   # capabilities must be real in the host's user namespace
  "DeviceAllow="    # char-rtc:r, which ProtectClock= itself adds
  "IPAddressDeny="  # peers, multicast groups and checked services are per config
  "RestrictRealtime="              # --realtime-priority: vrrpd enters SCHED_RR itself
  "SystemCallFilter=~@resources"   # sched_setscheduler only, for the same (the rest of @resources stays denied)
  "SystemCallFilter=~@privileged"  # capset only: checks and hooks start with empty capability sets
)

analyze() {
  systemd-analyze security --offline=yes "$1" 2>&1
}

report() {
  local label=$1 file=$2 output
  output=$(analyze "$file")
  echo "== systemd-analyze security --offline=yes ($label)"
  grep -E '^✗' <<<"$output" || true
  grep -E '^→ Overall exposure level' <<<"$output"
}

status=0
if (($# > 0)); then
  # The same file name, so that systemd names the unit the same.
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  git show "$1:$unit" >"$dir/vrrpd.service"
  report "$unit at $1" "$dir/vrrpd.service"
  echo
fi
report "$unit" "$unit"

exposed=$(analyze "$unit" | grep -E '^✗' | awk '{ print $2 }')
for name in $exposed; do
  found=no
  for ok in "${accepted[@]}"; do [[ $name == "$ok" ]] && found=yes; done
  if [[ $found == no ]]; then
    echo "FAIL: $unit is exposed on $name, which is not among the accepted exposures" >&2
    status=1
  fi
done

# The NixOS module renders the same unit: the same [Service] keys, except what only
# one of them needs (the distribution unit's stop timeout; the module's credentials and
# directory modes).
only_unit=(TimeoutStopSec)
only_module=(LoadCredential RuntimeDirectoryMode StateDirectoryMode LimitMEMLOCK)  # LimitMEMLOCK: only with services.vrrp.lockMemory
unit_keys=$(sed -n '/^\[Service\]/,/^\[/p' "$unit" | grep -oE '^[A-Za-z]+=' | tr -d = | sort -u)
module_keys=$(sed -n '/serviceConfig = {/,/^        };/p' "$module" | grep -oE '^ +[A-Z][A-Za-z]+ =' | tr -d ' =' | sort -u)
for key in $unit_keys; do
  [[ " ${only_unit[*]} " == *" $key "* ]] && continue
  if ! grep -qx "$key" <<<"$module_keys"; then
    echo "FAIL: $unit sets $key=, $module's serviceConfig does not" >&2
    status=1
  fi
done
for key in $module_keys; do
  [[ " ${only_module[*]} " == *" $key "* ]] && continue
  if ! grep -qx "$key" <<<"$unit_keys"; then
    echo "FAIL: $module's serviceConfig sets $key, $unit does not" >&2
    status=1
  fi
done
((status == 0)) && echo "ok: only the accepted exposures; $unit and $module set the same keys"
exit "$status"
