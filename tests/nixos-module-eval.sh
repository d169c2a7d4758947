#!/usr/bin/env bash
# Evaluation test of the NixOS module (nixos-module/) with lib.evalModules.
#
#   NIXPKGS_LIB=/path/to/nixpkgs/lib tests/nixos-module-eval.sh
#
# - The JSON rendered for lb01 and lb02 of the user's pair (tests/nix/cases.nix)
#   must equal examples/lb01.json and examples/lb02.json (compared as JSON values),
#   and with the Caddy health check examples/lb0{1,2}-caddy-health.json.
# - Every case in cases.nix `good` must evaluate; its rendering is checked below.
# - Every case in cases.nix `bad` must fail with its assertion message.
# - The secret-substitution script of authentication.passwordFile is run with jq.
#
# NIXPKGS_LIB is the `lib/` directory of a nixpkgs checkout (or of
# github:nix-community/nixpkgs.lib). Without it the test is SKIPPED, says so, and
# exits 77 (the automake "skipped" status, which tests/run-all.sh counts as skipped);
# a skip is not a pass.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fixtures="$repo/tests/nix"

if [[ -z "${NIXPKGS_LIB:-}" ]]; then
  echo "SKIPPED: NIXPKGS_LIB not set — module evaluation NOT tested"
  echo "         (set NIXPKGS_LIB to a nixpkgs lib/ directory to run it)"
  exit 77
fi
if [[ ! -f "$NIXPKGS_LIB/default.nix" || ! -f "$NIXPKGS_LIB/modules.nix" ]]; then
  echo "FAIL: NIXPKGS_LIB=$NIXPKGS_LIB is not a nixpkgs lib/ directory (no default.nix/modules.nix)" >&2
  exit 1
fi
command -v nix-instantiate >/dev/null || { echo "FAIL: nix-instantiate not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 not found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

jq_prefix=""
if command -v jq >/dev/null; then
  jq_prefix=$(dirname "$(dirname "$(command -v jq)")")
fi

# The daemon's own `vrrpd check` on every rendered config, as the module's
# checkConfig does at build time (the stub pkgs here cannot run it): VRRPD_BIN,
# else vrrpd on PATH, else this repository's debug build.
vrrpd_bin=${VRRPD_BIN:-$(command -v vrrpd || true)}
if [[ -z "$vrrpd_bin" && -x "${CARGO_TARGET_DIR:-$repo/target}/debug/vrrpd" ]]; then
  vrrpd_bin=${CARGO_TARGET_DIR:-$repo/target}/debug/vrrpd
fi

failures=0
passes=0
pass() { echo "ok   $*"; passes=$((passes + 1)); }
fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }

# evaluate CASE ATTR OUTFILE ERRFILE: JSON of (eval-module.nix).ATTR for CASE.
evaluate() {
  local case=$1 attr=$2 out=$3 err=$4
  local jq_args=()
  [[ -n "$jq_prefix" ]] && jq_args=(--argstr hostJqPrefix "$jq_prefix")
  nix-instantiate --eval --strict --json "$fixtures/eval-module.nix" \
    --arg nixpkgsLib "$NIXPKGS_LIB" --argstr case "$case" "${jq_args[@]}" \
    -A "$attr" >"$out" 2>"$err"
}

# check CASE PYTHON: evaluate good.CASE and run PYTHON with `r` = its result.
check() {
  local case=$1 code=$2
  if ! evaluate "good.$case" result "$work/$case.json" "$work/$case.err"; then
    fail "good.$case does not evaluate:"; sed 's/^/     /' "$work/$case.err" >&2
    return
  fi
  if python3 - "$work/$case.json" "$code" <<'EOF' 2>"$work/$case.py.err"; then
import json, sys
r = json.load(open(sys.argv[1]))
inst = r["rendered"]["instances"][0]
sc = r["serviceConfig"]
exec(sys.argv[2])
EOF
    pass "good.$case"
  else
    fail "good.$case:"; sed 's/^/     /' "$work/$case.py.err" >&2
  fi
  [[ -n "$vrrpd_bin" && $case != noConfigCheck ]] || return 0
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["rendered"], open(sys.argv[2], "w"))' \
    "$work/$case.json" "$work/$case.rendered.json"
  if "$vrrpd_bin" check --config "$work/$case.rendered.json" >"$work/$case.check" 2>&1; then
    pass "good.$case: vrrpd check accepts the rendered config"
  else
    fail "good.$case: vrrpd check refuses the rendered config:"; sed 's/^/     /' "$work/$case.check" >&2
  fi
}

# --- The user's pair renders exactly the committed examples -------------------
for pair in lb01:lb01 lb02:lb02 caddyHealthLb01:lb01-caddy-health caddyHealthLb02:lb02-caddy-health; do
  host=${pair%%:*} example=${pair#*:}
  expected="$repo/examples/$example.json"
  if [[ ! -f "$expected" ]]; then
    fail "examples/$example.json is missing (the module's output is compared with it)"
    expected="$fixtures/expected-$host.json"
    echo "     comparing with $expected instead" >&2
  fi
  if ! evaluate "good.$host" result.rendered "$work/$host.json" "$work/$host.err"; then
    fail "good.$host does not evaluate:"; sed 's/^/     /' "$work/$host.err" >&2
    continue
  fi
  if python3 - "$work/$host.json" "$expected" <<'EOF'; then
import json, sys
rendered, expected = (json.load(open(p)) for p in sys.argv[1:3])
if rendered != expected:
    print("     rendered:", json.dumps(rendered, sort_keys=True), file=sys.stderr)
    print("     expected:", json.dumps(expected, sort_keys=True), file=sys.stderr)
    sys.exit(1)
EOF
    pass "$host renders ${expected#"$repo"/}"
  else
    fail "$host does not render ${expected#"$repo"/}"
  fi
done

# The fixtures of the pair are the examples, byte for byte (one copy of the truth).
for host in lb01 lb02; do
  if cmp -s "$fixtures/expected-$host.json" "$repo/examples/$host.json"; then
    pass "tests/nix/expected-$host.json is byte-identical to examples/$host.json"
  else
    fail "tests/nix/expected-$host.json differs from examples/$host.json"
  fi
done

# --- The service unit -----------------------------------------------------------
check lb01 '
assert sc["Type"] == "notify", sc["Type"]
assert sc["NotifyAccess"] == "main"
assert sc["WatchdogSec"] == "10", sc["WatchdogSec"]
assert sc["Restart"] == "on-failure"
assert any(c.endswith("/bin/kill -HUP $MAINPID") for c in sc["ExecReload"]), sc["ExecReload"]
assert sc["ExecStart"].endswith("/bin/vrrpd run --config /etc/vrrpd/vrrpd.json --realtime-priority 10"), sc["ExecStart"]
# Realtime by default: allowed by the rlimit, not refused by the sandbox.
assert sc["LimitRTPRIO"] == 10 and sc["RestrictRealtime"] is False, (sc["LimitRTPRIO"], sc["RestrictRealtime"])
# Memory is not locked by default (services.vrrp.lockMemory).
assert "LimitMEMLOCK" not in sc and "--lock-memory" not in sc["ExecStart"], sc.get("LimitMEMLOCK")
assert "sched_setscheduler" in sc["SystemCallFilter"] and "~@resources" in sc["SystemCallFilter"]
assert "capset" in sc["SystemCallFilter"] and "~@privileged" in sc["SystemCallFilter"], sc["SystemCallFilter"]
assert sc["ExecStartPre"] == [] and sc["LoadCredential"] == []
assert sorted(sc["AmbientCapabilities"]) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
assert sorted(sc["CapabilityBoundingSet"]) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
assert sorted(sc["RestrictAddressFamilies"]) == ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"]
assert sc["DynamicUser"] is True and sc["NoNewPrivileges"] is True
assert sc["ProtectSystem"] == "strict" and sc["StateDirectory"] == "vrrpd"
# As packaging/vrrpd.service (tests/unit-security.sh compares the keys).
assert sc["ProtectProc"] == "invisible" and sc["ProcSubset"] == "pid", (sc["ProtectProc"], sc["ProcSubset"])
assert sc["PrivateMounts"] is True and sc["DevicePolicy"] == "closed"
assert "@system-service" in sc["SystemCallFilter"]
assert "network-online.target" in r["after"] and "network-online.target" in r["wants"]
assert r["wantedBy"] == ["multi-user.target"]
# A config change reloads instead of restarting, and the config was checked.
assert r["reloadTriggers"] == [r["etcConfig"]] == ["vrrpd.json"]
assert r["firewall"] == {"extraCommands": "", "extraInputRules": "", "backend": "iptables"}, r["firewall"]
# No systemd-networkd: nothing of it is touched.
assert r["networkd"] == {"enable": False, "networks": {}, "vrrpNetworks": []}, r["networkd"]
assert r["warnings"] == [], r["warnings"]
assert r["path"] == [], r["path"]
assert r["description"] == "vrrpd VRRP daemon (VI_1, VRID 50)", r["description"]
# meta as nixpkgs modules have it: no maintainer outside lib.maintainers, the docs page.
assert r["meta"]["maintainers"] == [], r["meta"]
assert [d["file"] for d in r["meta"]["doc"]] and all(d["value"].endswith("/docs/nixos.md") for d in r["meta"]["doc"]), r["meta"]["doc"]
# The rendered JSON goes through `vrrpd check` of the configured package at build time.
assert "vrrpd check --config /nix/store/" in r["configCheck"] and "-vrrpd-unchecked.json" in r["configCheck"], r["configCheck"]
assert r["configCheckInputs"] == ["vrrpd-0.1.0"], r["configCheckInputs"]
'

check passwordFile '
assert inst["authentication"] == {"type": "pass", "password": "@SECRET@"}, inst["authentication"]
assert sc["LoadCredential"] == ["vrrp-password:/run/secrets/vrrp-password"], sc["LoadCredential"]
assert sc["ExecStart"].endswith("run --config /run/vrrpd/vrrpd.json --realtime-priority 10"), sc["ExecStart"]
assert len(sc["ExecStartPre"]) == 1
# The reload regenerates the runtime config before the SIGHUP, without credentials
# (systemd 258 gives ExecReload= none): only the start script reads them.
assert len(sc["ExecReload"]) == 2 and sc["ExecReload"][1].endswith("kill -HUP $MAINPID"), sc["ExecReload"]
assert "$CREDENTIALS_DIRECTORY/vrrp-password" in r["prepareScript"]
assert "CREDENTIALS_DIRECTORY" not in r["reloadScript"], r["reloadScript"]
assert "/run/vrrpd/vrrp-password" in r["reloadScript"]
open(sys.argv[1] + ".script", "w").write(r["prepareScript"])
open(sys.argv[1] + ".reload", "w").write(r["reloadScript"])
open(sys.argv[1] + ".rendered", "w").write(json.dumps(r["rendered"]))
'

check localNode 'assert inst["priority"] == 100, inst["priority"]'
check processCheck '
assert sc["ProtectProc"] == "default", sc["ProtectProc"]
assert r["rendered"]["trackers"][0]["check"] == {"type": "process", "name": "caddy"}, r["rendered"]["trackers"]
'

check addressInterfacesAndVirtualMac '
assert inst["virtual_addresses"] == [
    "192.168.0.40",
    {"address": "198.51.100.7/24", "interface": "eth1"},
    {"address": "198.51.100.8/24", "interface": "eth2", "track": False},
], inst["virtual_addresses"]
assert inst["use_virtual_mac"] is True, inst
# The NixOS firewall'"'"'s default strict reverse path check would drop the traffic: warned.
assert any("checkReversePath" in w and "loose" in w for w in r["warnings"]), r["warnings"]
'
check virtualMacLooseReversePath 'assert inst["use_virtual_mac"] is True and r["warnings"] == [], r["warnings"]'
check noPreempt '
assert inst["preempt"] is False and inst["priority"] == 100
'

check instanceSettings '
assert inst["preempt_delay_s"] == 30 and inst["garp_burst_count"] == 3
assert inst["authentication"] == {"type": "pass", "password": "other"}, inst["authentication"]
assert inst["virtual_router_id"] == 50 and inst["priority"] == 150
'

check settingsReplacesInstances '
assert r["rendered"]["instances"] == [{"name": "ONLY", "interface": "eth9", "virtual_router_id": 7,
    "priority": 10, "virtual_addresses": ["192.0.2.1"]}], r["rendered"]["instances"]
assert r["rendered"]["$schema"] == "https://vrrpd.dev/schema/vrrpd.schema.json"
'

check version3 '
assert inst["version"] == 3 and inst["advert_interval_ms"] == 100
assert inst["authentication"] == {"type": "none"}
'

# Where nothing old is in the way: VRRPv3 at 100 ms by default.
check fastDefault '
assert inst["version"] == 3 and inst["advert_interval_ms"] == 100, inst
assert inst["authentication"] == {"type": "none"}
'
check version2Only 'assert inst["version"] == 2 and inst["advert_interval_ms"] == 1000, inst'
check keepalivedPresetVersion3 'assert inst["version"] == 3 and inst["advert_interval_ms"] == 1000, inst'
check intervalOnly 'assert inst["version"] == 3 and inst["advert_interval_ms"] == 200, inst'

# Dual stack: one VRRPv3 instance per family, in a sync group, sharing the nodes.
check dualStack '
insts = r["rendered"]["instances"]
assert [i["name"] for i in insts] == ["v4", "v6"], insts
v4, v6 = insts
assert v4 == {"name": "v4", "interface": "eth0", "version": 3, "virtual_router_id": 50, "priority": 100,
    "advert_interval_ms": 100, "authentication": {"type": "none"}, "virtual_addresses": ["192.0.2.40"],
    "garp_master_refresh_s": 0}, v4
assert v6["virtual_addresses"] == ["fe80::40", "2001:db8::40"] and v6["virtual_router_id"] == 50 and v6["priority"] == 100, v6
assert v6["version"] == 3 and v6["advert_interval_ms"] == 100
assert r["rendered"]["sync_groups"] == [{"name": "frontend", "instances": ["v4", "v6"]}], r["rendered"]
assert r["description"] == "vrrpd VRRP daemon (v4, VRID 50, v6, VRID 50)", r["description"]
assert r["firewall"]["extraInputRules"].strip() == "iifname \"eth0\" meta l4proto 112 accept comment \"VRRP (services.vrrp)\"", r["firewall"]
'

# A public and an internal VIP with per-instance overrides.
check severalInstances '
internal, public = r["rendered"]["instances"]
assert internal["name"] == "internal" and public["name"] == "public"
assert public["interface"] == "eth0" and internal["interface"] == "eth1"
# lb01: 150 on public (nodes), 90 on internal (override); internal is VRRPv2 at 2 s.
assert public["priority"] == 150 and internal["priority"] == 90, (public, internal)
assert public["version"] == 3 and public["advert_interval_ms"] == 100
assert internal["version"] == 2 and internal["advert_interval_ms"] == 2000
assert internal["preempt"] is False and "preempt" not in public
assert public["track"] == [{"tracker": "caddy", "weight": -60}] and "track" not in internal, (public, internal)
assert internal["notify"] == {"master": ["/bin/true"]} and public["notify"] == {"backup": ["/bin/false"]}
assert internal["garp_burst_count"] == 3 and public["preempt_delay_s"] == 30 and internal["preempt_delay_s"] == 30
assert [t["name"] for t in r["rendered"]["trackers"]] == ["caddy"]
assert r["firewall"]["extraCommands"].splitlines() == [
    "ip46tables -A nixos-fw -i eth1 -p 112 -j nixos-fw-accept",
    "ip46tables -A nixos-fw -i eth0 -p 112 -j nixos-fw-accept"], r["firewall"]
assert r["path"] == ["curl", "systemd"], r["path"]
'

# The password goes to the VRRPv2 instance only.
check passwordOnVersion2Instance '
v4, v6 = r["rendered"]["instances"]
assert v4["authentication"] == {"type": "pass", "password": "@SECRET@"} and v4["version"] == 2, v4
assert v6["authentication"] == {"type": "none"} and v6["version"] == 3, v6
assert sc["ExecStart"].endswith("run --config /run/vrrpd/vrrpd.json --realtime-priority 10")
'

check unicastInstances '
(i,) = r["rendered"]["instances"]
assert i["unicast_source"] == "192.168.0.41" and i["unicast_peers"] == ["192.168.0.42"], i
'

check ipv6Unicast '
v4, v6 = r["rendered"]["instances"]
assert v4["virtual_addresses"] == ["192.0.2.40"], v4
assert v4["unicast_source"] == "192.168.0.42" and v4["unicast_peers"] == ["192.168.0.41"], v4
assert v6["virtual_addresses"] == ["fe80::40", "2001:db8::40"] and v6["version"] == 3, v6
assert v6["unicast_source"] == "2001:db8::42" and v6["unicast_peers"] == ["2001:db8::41"], v6
assert v6["priority"] == 100
assert r["rendered"]["sync_groups"] == [{"name": "frontend", "instances": ["v4", "v6"]}], r["rendered"]
'

check firewallIptables '
assert r["firewall"]["backend"] == "iptables"
assert r["firewall"]["extraInputRules"] == ""
assert r["firewall"]["extraCommands"].strip() == "ip46tables -A nixos-fw -i eth0 -p 112 -j nixos-fw-accept", r["firewall"]
'

check firewallNftables '
assert r["firewall"]["backend"] == "nftables"
assert r["firewall"]["extraCommands"] == ""
assert r["firewall"]["extraInputRules"].strip() == "iifname \"eth0\" meta l4proto 112 accept comment \"VRRP (services.vrrp)\"", r["firewall"]
'

check unicast '
assert inst["unicast_source"] == "192.168.0.42" and inst["unicast_peers"] == ["192.168.0.41"], inst
assert inst["priority"] == 100
'

check watchdogOff 'assert sc["WatchdogSec"] == "0", sc["WatchdogSec"]'

check lockMemory '
assert sc["ExecStart"].endswith("/bin/vrrpd run --config /etc/vrrpd/vrrpd.json --realtime-priority 10 --lock-memory"), sc["ExecStart"]
assert sc["LimitMEMLOCK"] == "infinity", sc.get("LimitMEMLOCK")
'

check realtimeOff '
assert sc["ExecStart"].endswith("/bin/vrrpd run --config /etc/vrrpd/vrrpd.json"), sc["ExecStart"]
assert sc["LimitRTPRIO"] == 0 and sc["RestrictRealtime"] is True, (sc["LimitRTPRIO"], sc["RestrictRealtime"])
assert "sched_setscheduler" not in sc["SystemCallFilter"], sc["SystemCallFilter"]
'

# --- systemd-networkd: KeepConfiguration=static on the VRRP interface's entry -----
check networkdKeep '
n = r["networkd"]
assert n["enable"] and n["vrrpNetworks"] == ["40-eth0"], n
assert n["networks"]["40-eth0"]["networkConfig"] == {"KeepConfiguration": "static"}, n["networks"]
assert n["networks"]["40-eth0"]["name"] == "eth0", n["networks"]
assert r["warnings"] == [], r["warnings"]
'
check networkdKeepOff '
n = r["networkd"]["networks"]["40-eth0"]
assert "KeepConfiguration" not in n.get("networkConfig", {}), n
assert r["warnings"] == [], r["warnings"]
'
check networkdOwnValueWins '
n = r["networkd"]["networks"]["40-eth0"]
assert n["networkConfig"] == {"KeepConfiguration": "yes"}, n
'
check networkdOtherInterface '
n = r["networkd"]
assert n["vrrpNetworks"] == [] and n["networks"] == {}, n
'
check networkdOwnEntry '
n = r["networkd"]["networks"]
assert list(n) == ["10-lan"], n
assert n["10-lan"]["networkConfig"] == {"KeepConfiguration": "static"}, n
assert n["10-lan"]["matchConfig"] == {"Name": "eth0"}, n
assert r["warnings"] == [], r["warnings"]
'
check networkdUncovered '
n = r["networkd"]
assert n["vrrpNetworks"] == [] and "networkConfig" not in n["networks"]["10-lan"], n
w = r["warnings"]
assert len(w) == 1 and w[0].startswith("services.vrrp: systemd.network.networks.10-lan configures eth0, which carries virtual addresses, but does not get KeepConfiguration=static: add \"10-lan\" to services.vrrp.networkd.networks"), w
'

check noConfigCheck '
assert r["configCheck"] is None and r["etcConfig"] == "vrrpd-unchecked.json", (r["configCheck"], r["etcConfig"])
'

# --- The passwordFile substitution, run for real ---------------------------------
script="$work/passwordFile.json.script"
if [[ -z "$jq_prefix" ]]; then
  fail "jq not found: the passwordFile substitution script was not run"
elif [[ ! -f "$script" ]]; then
  fail "no passwordFile script to run (good.passwordFile failed above)"
else
  mkdir -p "$work/etc" "$work/run" "$work/credentials"
  cp "$work/passwordFile.json.rendered" "$work/etc/vrrpd.json"
  # A secret with JSON-special characters and the trailing newline `echo` adds.
  printf '%s\n' 'p"a\ss' >"$work/credentials/vrrp-password"
  sed -e "s#/etc/vrrpd/#$work/etc/#g" -e "s#/run/vrrpd/#$work/run/#g" "$script" >"$work/prepare.sh"
  if CREDENTIALS_DIRECTORY="$work/credentials" bash "$work/prepare.sh" 2>"$work/prepare.err" &&
    python3 - "$work/run/vrrpd.json" "$work/etc/vrrpd.json" <<'EOF'; then
import json, os, stat, sys
runtime, stored = (json.load(open(p)) for p in sys.argv[1:3])
assert runtime["instances"][0]["authentication"] == {"type": "pass", "password": 'p"a\\ss'}, runtime
stored["instances"][0]["authentication"]["password"] = 'p"a\\ss'
assert runtime == stored, "only the password may differ"
mode = stat.S_IMODE(os.stat(sys.argv[1]).st_mode)
assert mode == 0o600, oct(mode)
EOF
    pass "passwordFile: the runtime config gets the secret (JSON-escaped, newline cut, mode 0600)"
  else
    fail "passwordFile substitution:"; sed 's/^/     /' "$work/prepare.err" >&2
  fi

  # The reload, as systemd 258 runs ExecReload=: no CREDENTIALS_DIRECTORY (and the
  # credential gone), a new config from the rebuild; the secret read at start stays.
  sed -e "s#/etc/vrrpd/#$work/etc/#g" -e "s#/run/vrrpd/#$work/run/#g" "$work/passwordFile.json.reload" >"$work/reload.sh"
  python3 - "$work/etc/vrrpd.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["instances"][0]["priority"] = 120
json.dump(c, open(sys.argv[1], "w"))
EOF
  rm -rf "$work/credentials"
  if env -u CREDENTIALS_DIRECTORY bash "$work/reload.sh" 2>"$work/reload.err" &&
    python3 - "$work/run/vrrpd.json" <<'EOF'; then
import json, sys
runtime = json.load(open(sys.argv[1]))
inst = runtime["instances"][0]
assert inst["priority"] == 120, inst
assert inst["authentication"] == {"type": "pass", "password": 'p"a\\ss'}, inst
EOF
    pass "passwordFile: reload without credentials re-renders the new config with the secret read at start"
  else
    fail "passwordFile reload without CREDENTIALS_DIRECTORY:"; sed 's/^/     /' "$work/reload.err" >&2
  fi
  # A reload before any start (no copy of the secret) fails with a clear message.
  rm -f "$work/run/vrrp-password"
  if env -u CREDENTIALS_DIRECTORY bash "$work/reload.sh" 2>"$work/reload2.err"; then
    fail "passwordFile: reload without the start's copy of the secret succeeded"
  elif grep -q "restart vrrpd" "$work/reload2.err"; then
    pass "passwordFile: reload without the start's copy says to restart"
  else
    fail "passwordFile: reload without the copy failed without the message:"; sed 's/^/     /' "$work/reload2.err" >&2
  fi
fi

# --- flake.nix wiring and the VM test's nodes (mock nixpkgs, real library) -------
if nix-instantiate --eval --strict --json "$fixtures/flake-wiring.nix" \
  --arg nixpkgsLib "$NIXPKGS_LIB" >"$work/flake.json" 2>"$work/flake.err" &&
  python3 - "$work/flake.json" <<'EOF' 2>"$work/flake.py.err"; then
import json, sys
f = json.load(open(sys.argv[1]))
systems = ["aarch64-linux", "x86_64-linux"]
for want in ["checks", "devShells", "formatter", "nixosModules", "overlays", "packages"]:
    assert want in f["outputs"], (want, f["outputs"])
assert sorted(f["packages"]) == systems
for s in systems:
    assert f["packages"][s] == ["default", "schema"], f["packages"]
    assert f["checks"][s] == ["module-eval", "nix-parse", "package", "vm-test"], f["checks"]
    assert f["devShells"][s] == ["default"]
    assert f["formatter"][s] == "nixfmt-tree"
assert f["overlay"].endswith("/nix/package.nix"), f["overlay"]
vm = f["vmTest"]
assert vm["nodes"] == ["client", "lb01", "lb02"], vm["nodes"]
for node, priority, address, address6 in [("lb01", 150, "192.0.2.1", "2001:db8::1"), ("lb02", 100, "192.0.2.2", "2001:db8::2")]:
    n = vm[node]
    assert n["failedAssertions"] == [], n["failedAssertions"]
    # nixosModules.default defaults the package to this flake's build.
    assert n["package"] == "vrrpd-x86_64-linux", n["package"]
    v4, v6 = n["rendered"]["instances"]
    assert v4["priority"] == priority and v4["interface"] == "eth1"
    assert v4["virtual_addresses"] == ["192.0.2.100"]
    assert v4["version"] == 2 and v4["advert_interval_ms"] == 1000
    assert v4["authentication"] == {"type": "pass", "password": "@SECRET@"}
    # The dual-stack instance: the module's default, VRRPv3 at 100 ms.
    assert v6["priority"] == priority and v6["virtual_addresses"] == ["fe80::100", "2001:db8::100"]
    assert v6["version"] == 3 and v6["advert_interval_ms"] == 100, v6
    assert v6["authentication"] == {"type": "none"}
    assert n["ExecStart"].endswith("run --config /run/vrrpd/vrrpd.json --realtime-priority 10")
    # The reload re-renders the secret config without credentials.
    assert n["ExecReload"][0].endswith("-vrrpd-prepare-config-reload"), n["ExecReload"]
    assert n["WatchdogSec"] == "5"
    assert n["eth1"] == [{"address": address, "prefixLength": 24}], n["eth1"]
    assert n["eth1v6"] == [{"address": address6, "prefixLength": 64}], n["eth1v6"]
# lb01 uses the iptables firewall, lb02 nftables.
assert "-p 112" in vm["lb01"]["firewall"]["extraCommands"] and vm["lb01"]["firewall"]["extraInputRules"] == ""
assert "l4proto 112" in vm["lb02"]["firewall"]["extraInputRules"] and vm["lb02"]["firewall"]["extraCommands"] == ""
EOF
  pass "flake outputs and the VM test's lb01/lb02 evaluate through nixosModules.default"
else
  fail "flake wiring:"; cat "$work/flake.err" "$work/flake.py.err" 2>/dev/null | sed 's/^/     /' >&2
fi

# --- The VM test's shell commands survive the driver's pipefail ------------------
# A pipe into `grep -q` (or `head`) can kill its writer with SIGPIPE, and pipefail
# then fails a command whose grep matched (journalctl's output is long enough).
# Pipes into grep are refused altogether:
# GNU grep stops at the first match with -q and also when its output is /dev/null.
if grep -nE '\|[[:space:]]*(grep|head)([[:space:]]|$)' "$repo/nix/vm-test.nix" >"$work/pipes"; then
  fail "nix/vm-test.nix pipes into grep or head:"; sed 's/^/     /' "$work/pipes" >&2
else
  pass "nix/vm-test.nix has no pipe into grep or head (SIGPIPE under pipefail)"
fi

# --- Every bad option fails with its message -------------------------------------
bad_cases=$(nix-instantiate --eval --strict --json -E \
  "builtins.attrNames (import $fixtures/cases.nix { lib = import $NIXPKGS_LIB; }).bad" |
  python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
[[ -n "$bad_cases" ]] || fail "cases.nix lists no bad cases"
for case in $bad_cases; do
  message=$(nix-instantiate --eval --strict --json -E \
    "(import $fixtures/cases.nix { lib = import $NIXPKGS_LIB; }).bad.$case.message" |
    python3 -c 'import json, sys; print(json.load(sys.stdin))')
  if evaluate "bad.$case" result "$work/bad.out" "$work/bad.err"; then
    fail "bad.$case evaluated, but must fail with: $message"
  elif ! grep -q "Failed assertions:" "$work/bad.err"; then
    fail "bad.$case failed, but not through an assertion:"; sed 's/^/     /' "$work/bad.err" >&2
  elif ! grep -qF -- "$message" "$work/bad.err"; then
    fail "bad.$case failed without the expected message \"$message\":"; sed 's/^/     /' "$work/bad.err" >&2
  else
    pass "bad.$case fails with its message"
  fi
done

if [[ -z "$vrrpd_bin" ]]; then
  echo "SKIPPED: vrrpd check of the rendered configs (no vrrpd: set VRRPD_BIN or build target/debug/vrrpd)"
fi

echo
if ((failures > 0)); then
  echo "nixos-module-eval: $failures FAILED, $passes passed"
  exit 1
fi
echo "nixos-module-eval: all $passes checks passed (nixpkgs lib: $NIXPKGS_LIB)"
