#!/usr/bin/env bash
# docs/monitoring/ is checked by Prometheus's own tool (Debian's prometheus package):
#   - the alert rules parse (promtool check rules) and pass their unit tests
#     (promtool test rules: each alert fires when it should and not when it should not);
#   - every query of the Grafana dashboard parses as PromQL (each is checked as a
#     recording rule, with Grafana's $__rate_interval and $job filled in).
# That every metric the rules and the dashboard name is one vrrpd exports is checked by
# tests/monitoring_assets.rs (cargo test). SKIPPED (77) without promtool.
set -euo pipefail
cd "$(dirname "$0")/../docs/monitoring"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found (Debian package prometheus): SKIPPED" >&2
  exit 77
fi
promtool check rules vrrpd.rules.yml
promtool test rules vrrpd.rules.test.yml
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 - grafana-dashboard.json "$scratch/dashboard.rules.yml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
          and not v["query"].startswith("label_values(")]
if len(exprs) < 10:
    sys.exit(f"only {len(exprs)} queries found in the dashboard")
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for n, expr in enumerate(exprs):
        expr = expr.replace("$__rate_interval", "2m").replace("$job", ".*")
        out.write(f"      - record: dashboard:query{n}\n        expr: {json.dumps(expr)}\n")
print(f"{len(exprs)} dashboard queries")
PY
promtool check rules "$scratch/dashboard.rules.yml"
