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

# --- The service unit -----------------------------------------------------------
check lb01 '
assert sc["Type"] == "notify", sc["Type"]
assert sc["NotifyAccess"] == "main"
assert sc["WatchdogSec"] == "10", sc["WatchdogSec"]
assert sc["Restart"] == "on-failure"
assert any(c.endswith("/bin/kill -HUP $MAINPID") for c in sc["ExecReload"]), sc["ExecReload"]
assert sc["ExecStart"].endswith("/bin/vrrpd run --config /etc/vrrpd/vrrpd.json"), sc["ExecStart"]
assert sc["ExecStartPre"] == [] and sc["LoadCredential"] == []
assert sorted(sc["AmbientCapabilities"]) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
assert sorted(sc["CapabilityBoundingSet"]) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
assert sorted(sc["RestrictAddressFamilies"]) == ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"]
assert sc["DynamicUser"] is True and sc["NoNewPrivileges"] is True
assert sc["ProtectSystem"] == "strict" and sc["StateDirectory"] == "vrrpd"
assert "@system-service" in sc["SystemCallFilter"]
assert "network-online.target" in r["after"] and "network-online.target" in r["wants"]
assert r["wantedBy"] == ["multi-user.target"]
# A config change reloads instead of restarting, and the config was checked.
assert r["reloadTriggers"] == [r["etcConfig"]] == ["vrrpd.json"]
assert r["firewall"] == {"extraCommands": "", "extraInputRules": ""}
# The rendered JSON goes through `vrrpd check` of the configured package at build time.
assert "vrrpd check --config /nix/store/" in r["configCheck"] and "-vrrpd-unchecked.json" in r["configCheck"], r["configCheck"]
assert r["configCheckInputs"] == ["vrrpd-0.1.0"], r["configCheckInputs"]
'

check passwordFile '
assert inst["authentication"] == {"type": "pass", "password": "@SECRET@"}, inst["authentication"]
assert sc["LoadCredential"] == ["vrrp-password:/run/secrets/vrrp-password"], sc["LoadCredential"]
assert sc["ExecStart"].endswith("run --config /run/vrrpd/vrrpd.json"), sc["ExecStart"]
assert len(sc["ExecStartPre"]) == 1
# The reload regenerates the runtime config before the SIGHUP.
assert sc["ExecReload"][0] == sc["ExecStartPre"][0] and sc["ExecReload"][1].endswith("kill -HUP $MAINPID")
assert "$CREDENTIALS_DIRECTORY/vrrp-password" in r["prepareScript"]
open(sys.argv[1] + ".script", "w").write(r["prepareScript"])
open(sys.argv[1] + ".rendered", "w").write(json.dumps(r["rendered"]))
'

check localNode 'assert inst["priority"] == 100, inst["priority"]'

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

check firewallIptables '
assert r["firewall"]["extraInputRules"] == ""
assert r["firewall"]["extraCommands"].strip() == "ip46tables -A nixos-fw -i eth0 -p 112 -j nixos-fw-accept", r["firewall"]
'

check firewallNftables '
assert r["firewall"]["extraCommands"] == ""
assert r["firewall"]["extraInputRules"].strip() == "iifname \"eth0\" meta l4proto 112 accept comment \"VRRP (services.vrrp)\"", r["firewall"]
'

check unicast '
assert inst["unicast_source"] == "192.168.0.42" and inst["unicast_peers"] == ["192.168.0.41"], inst
assert inst["priority"] == 100
'

check watchdogOff 'assert sc["WatchdogSec"] == "0", sc["WatchdogSec"]'

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
for node, priority, address in [("lb01", 150, "192.0.2.1"), ("lb02", 100, "192.0.2.2")]:
    n = vm[node]
    assert n["failedAssertions"] == [], n["failedAssertions"]
    # nixosModules.default defaults the package to this flake's build.
    assert n["package"] == "vrrpd-x86_64-linux", n["package"]
    inst = n["rendered"]["instances"][0]
    assert inst["priority"] == priority and inst["interface"] == "eth1"
    assert inst["virtual_addresses"] == ["192.0.2.100"]
    assert inst["authentication"] == {"type": "pass", "password": "@SECRET@"}
    assert n["ExecStart"].endswith("run --config /run/vrrpd/vrrpd.json")
    assert n["WatchdogSec"] == "5"
    assert n["eth1"] == [{"address": address, "prefixLength": 24}], n["eth1"]
# lb01 uses the iptables firewall, lb02 nftables.
assert "-p 112" in vm["lb01"]["firewall"]["extraCommands"] and vm["lb01"]["firewall"]["extraInputRules"] == ""
assert "l4proto 112" in vm["lb02"]["firewall"]["extraInputRules"] and vm["lb02"]["firewall"]["extraCommands"] == ""
EOF
  pass "flake outputs and the VM test's lb01/lb02 evaluate through nixosModules.default"
else
  fail "flake wiring:"; cat "$work/flake.err" "$work/flake.py.err" 2>/dev/null | sed 's/^/     /' >&2
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

echo
if ((failures > 0)); then
  echo "nixos-module-eval: $failures FAILED, $passes passed"
  exit 1
fi
echo "nixos-module-eval: all $passes checks passed (nixpkgs lib: $NIXPKGS_LIB)"
