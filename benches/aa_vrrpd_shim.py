#!/usr/bin/env python3
"""A/A check for benches/failover.sh: a stand-in "vrrpd" that runs keepalived.

    sudo benches/failover.sh --vrrpd benches/aa_vrrpd_shim.py

It translates the one-instance vrrpd JSON that failover.py writes into a keepalived.conf,
then execs keepalived. With the same program on both sides, the vrrpd/keepalived ratios show
the benchmark's own noise. This is not part of vrrpd, and only meant for this check.
"""

import json
import os
import sys


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        print("keepalived behind the A/A shim")
        return 0
    if len(argv) != 3 or argv[0] not in ("run", "check") or argv[1] != "--config":
        print("usage: aa_vrrpd_shim.py run|check --config FILE", file=sys.stderr)
        return 2
    conf = argv[2]
    with open(conf) as f:
        instance = json.load(f)["instances"][0]
    # Mirror src/config: "version" is the string "2" or "3".
    if instance.get("version") not in ("2", "3"):
        print("version must be the string \"2\" or \"3\"", file=sys.stderr)
        return 1
    if argv[0] == "check":
        return 0
    auth = instance.get("authentication")
    auth_block = (f"    authentication {{\n        auth_type PASS\n"
                  f"        auth_pass {auth['password']}\n    }}\n" if auth else "")
    version_line = "    vrrp_version 3\n" if instance["version"] == "3" else ""
    text = (
        f"global_defs {{\n{version_line}}}\n"
        f"vrrp_instance {instance['name']} {{\n"
        f"    state BACKUP\n"
        f"    interface {instance['interface']}\n"
        f"    virtual_router_id {instance['virtual_router_id']}\n"
        f"    priority {instance['priority']}\n"
        f"    advert_int {instance['advert_interval_ms'] / 1000:g}\n"
        f"{auth_block}"
        f"    virtual_ipaddress {{\n"
        + "".join(f"        {vip}\n" for vip in instance["virtual_addresses"])
        + "    }\n}\n"
    )
    keepalived_conf = conf + ".keepalived.conf"
    with open(keepalived_conf, "w") as f:
        f.write(text)
    pid_files = {kind: f"{conf}.{kind}.pid" for kind in ("main", "vrrp", "check")}
    for path in pid_files.values():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    os.execvp("keepalived", ["keepalived", "-n", "-l", "-f", keepalived_conf,
                             "-p", pid_files["main"], "-r", pid_files["vrrp"],
                             "-c", pid_files["check"], "--vrrp"])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
