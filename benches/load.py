#!/usr/bin/env python3
"""Sustained load: false takeovers of keepalived and vrrpd side by side under stress-ng.

Two labs at once (benches/failover.py's Lab: a bridge, lb1 priority 150, lb2 priority 100,
a client), one running a keepalived pair and one a vrrpd pair with the same settings, so
that both see exactly the same load. stress-ng loads every core for the whole window
(`--cpu N`, or `--vm N` for memory pressure); afterwards each daemon's log says how often
its backup took over (a false takeover: the master never stopped) and its master let go.

    sudo python3 benches/load.py [--seconds 600] [--cases v3-10ms,v3-100ms]
                                 [--stress cpu,vm] [--vrrpd PATH] [--rounds N]

Python 3 standard library only. stress-ng runs inside the lab's client namespace, like every
process this script starts; nothing touches the machine's own network.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import failover as fb  # noqa: E402  (the lab, the daemons, the cases)

MASTER_RE = re.compile(r"Entering MASTER STATE")
BACKUP_RE = re.compile(r"Entering (BACKUP|FAULT) STATE")
ELECTION_TIMEOUT_S = 15.0
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delivery_probe.py")
PROBE_PORT = 50050


def stress_argv(kind: str, seconds: int) -> list[str]:
    cores = os.cpu_count() or 1
    if kind == "cpu":
        return ["stress-ng", "--cpu", str(cores), "--timeout", f"{seconds}s", "--quiet"]
    if kind == "vm":
        # Memory pressure without the OOM killer: one worker per core touching 1 GiB each
        # (page faults, cache and TLB misses, memory bandwidth).
        return ["stress-ng", "--vm", str(cores), "--vm-bytes", "1G", "--timeout",
                f"{seconds}s", "--quiet"]
    raise fb.BenchError(f"unknown stress kind {kind}")


def count(path: str, offset: int, pattern: re.Pattern[str]) -> int:
    with open(path) as f:
        f.seek(offset)
        return len(pattern.findall(f.read()))


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Realtime(fb.Implementation):
    """An implementation with its own realtime knob on: vrrpd's `--realtime-priority`
    (what the shipped unit and the NixOS module pass), keepalived's `vrrp_rt_priority`."""

    def __init__(self, inner: fb.Implementation, priority: int):
        self.inner, self.priority = inner, priority
        self.name = inner.name
        self.state_change_re = inner.state_change_re

    def available(self) -> str | None:
        return self.inner.available()

    def version(self) -> str:
        return self.inner.version()

    def write_config(self, workdir: str, node: str, case: fb.Case) -> str:
        path = self.inner.write_config(workdir, node, case)
        if self.inner.name == "keepalived":
            with open(path) as f:
                text = f.read()
            text = text.replace("global_defs {\n",
                                f"global_defs {{\n    vrrp_rt_priority {self.priority}\n", 1)
            with open(path, "w") as f:
                f.write(text)
        return path

    def argv(self, workdir: str, node: str, conf: str) -> list[str]:
        argv = self.inner.argv(workdir, node, conf)
        if self.inner.name == "vrrpd":
            argv += ["--realtime-priority", str(self.priority)]
        return argv


def ksoftirqd_threads() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().startswith("ksoftirqd/"):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def set_ksoftirqd(priority: int | None) -> None:
    """The host's softirq threads in SCHED_FIFO at `priority`, or back to normal (None).
    An operator's tuning, not vrrpd's: it shows whether the floor is softirq's."""
    for pid in ksoftirqd_threads():
        if priority is None:
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        else:
            os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(priority))


class Floor:
    """benches/delivery_probe.py in a lab of its own: an ideal sender and receiver (realtime,
    memory locked) one advert interval apart, under the same load as the daemons. Its gaps
    over the Master_Down_Interval are takeovers no daemon could have avoided."""

    def __init__(self, prefix: str, case: fb.Case, seconds: int):
        self.lab = fb.Lab(prefix, keep_workdir=False)
        self.case, self.seconds = case, seconds
        self.receiver: subprocess.Popen | None = None
        self.sender: subprocess.Popen | None = None

    def start(self) -> None:
        self.lab.build()
        threshold_ms = self.case.master_down_s * 1000
        self.receiver = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns("lb2"), sys.executable, PROBE, "receive",
             str(PROBE_PORT), str(self.case.interval_ms), str(self.seconds + 2),
             f"{threshold_ms:.2f}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        time.sleep(0.5)
        self.sender = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns("lb1"), sys.executable, PROBE, "send",
             fb.NODES["lb2"][0], str(PROBE_PORT), str(self.case.interval_ms),
             str(self.seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def result(self) -> dict:
        if self.receiver is None or self.sender is None:
            raise fb.BenchError("the delivery probe was not started")
        try:
            out, err = self.receiver.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired as error:
            raise fb.BenchError("the delivery probe's receiver did not finish") from error
        self.sender.wait(10)
        if self.receiver.returncode != 0 or not out.strip():
            raise fb.BenchError(f"the delivery probe failed: {err.strip()}")
        return json.loads(out)

    def cleanup(self) -> None:
        for proc in (self.sender, self.receiver):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.lab.cleanup()


def elect(lab: fb.Lab, impl: fb.Implementation, case: fb.Case) -> tuple[fb.Daemon, fb.Daemon]:
    master = lab.start_daemon(impl, "lb1", case)
    backup = lab.start_daemon(impl, "lb2", case)
    deadline = time.monotonic() + ELECTION_TIMEOUT_S
    while time.monotonic() < deadline:
        if lab.has_vip("lb1") and not lab.has_vip("lb2"):
            # Let the backup hear a few adverts before the load starts.
            time.sleep(max(1.0, case.master_down_s * 2))
            if lab.has_vip("lb1") and not lab.has_vip("lb2"):
                return master, backup
        time.sleep(0.05)
    raise fb.BenchError(
        f"{impl.name}: no election within {ELECTION_TIMEOUT_S} s\n{master.log_tail()}\n"
        f"{backup.log_tail()}")


def one_run(prefix: str, impls: list[fb.Implementation], case: fb.Case, kind: str,
            seconds: int, keep_logs: bool = False, floor: bool = True) -> list[dict]:
    labs = []
    probe = Floor(f"{prefix}p", case, seconds) if floor else None
    try:
        pairs = []
        for n, impl in enumerate(impls):
            lab = fb.Lab(f"{prefix}{n}", keep_workdir=keep_logs)
            labs.append(lab)
            lab.build()
            master, backup = elect(lab, impl, case)
            if isinstance(impl, Realtime) and impl.name == "vrrpd":
                for daemon in (master, backup):
                    with open(daemon.log_path) as f:
                        if "running at realtime priority" not in f.read():
                            raise fb.BenchError(f"vrrpd did not enter realtime:\n"
                                                f"{daemon.log_tail()}")
            pairs.append((impl, lab, master, backup))
        marks = [(log_size(m.log_path), log_size(b.log_path)) for _, _, m, b in pairs]
        cpu_before = [fb.cpu_ns(fb.proc_tree(m.pid)) + fb.cpu_ns(fb.proc_tree(b.pid))
                      for _, _, m, b in pairs]
        argv = ["ip", "netns", "exec", labs[0].ns("cl")] + stress_argv(kind, seconds)
        fb.log(f"{case.key} under stress-ng {kind} for {seconds} s: {' '.join(argv[4:])}")
        if probe is not None:
            probe.start()
        started = time.monotonic()
        stress = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            stress.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            os.killpg(stress.pid, signal.SIGKILL)
            stress.wait(5)
        elapsed = time.monotonic() - started
        results = []
        for (impl, lab, master, backup), (m_off, b_off), cpu0 in zip(pairs, marks, cpu_before):
            cpu = fb.cpu_ns(fb.proc_tree(master.pid)) + fb.cpu_ns(fb.proc_tree(backup.pid))
            results.append({
                "impl": impl.name,
                "case": case.key,
                "stress": kind,
                "seconds": round(elapsed),
                "false_takeovers": count(backup.log_path, b_off, MASTER_RE),
                "master_let_go": count(master.log_path, m_off, BACKUP_RE),
                "alive": master.alive() and backup.alive(),
                "cpu_pct": round(100 * (cpu - cpu0) / 1e9 / elapsed, 2),
            })
        if probe is not None:
            floor_result = probe.result()
            fb.log(f"  floor: {floor_result}")
            for row in results:
                row["floor"] = floor_result
        return results
    finally:
        if probe is not None:
            probe.cleanup()
        for lab in labs:
            lab.cleanup()


def render(rows: list[dict], meta: dict) -> str:
    lines = [
        f"Run {meta['date']} on {meta['nproc']} cores ({meta['cpu']}), load before "
        f"{meta['loadavg']}; `{meta['command']}`. Realtime: {meta['realtime']}.",
        "",
        "| adverts | stress-ng | window | keepalived false takeovers | vrrpd false takeovers "
        "| keepalived master let go | vrrpd master let go | CPU of both daemons (keepalived / vrrpd) "
        "| floor: gaps over Master_Down (longest; machine's steal time) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keyed: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        keyed.setdefault((row["case"], row["stress"], row.get("round", 1)), {})[row["impl"]] = row
    for (case, kind, round_), by_impl in keyed.items():
        k, v = by_impl.get("keepalived", {}), by_impl.get("vrrpd", {})
        window = (k or v).get("seconds", "?")
        floor = (k or v).get("floor")
        floor_text = (f"{floor['gaps_over_threshold']} ({floor['longest_gap_ms']} ms; "
                      f"steal {floor.get('steal_ticks', 0) / os.sysconf('SC_CLK_TCK'):.2f} s)"
                      if floor else "n/a")
        lines.append(
            f"| {fb.CASES[case].label} | `{kind}` (round {round_}) | {window} s "
            f"| {k.get('false_takeovers', 'n/a')} | {v.get('false_takeovers', 'n/a')} "
            f"| {k.get('master_let_go', 'n/a')} | {v.get('master_let_go', 'n/a')} "
            f"| {k.get('cpu_pct', 'n/a')} % / {v.get('cpu_pct', 'n/a')} % | {floor_text} |")
    dead = [r for r in rows if not r["alive"]]
    if dead:
        lines += ["", "Daemons that died during the window: "
                  + ", ".join(f"{r['impl']} {r['case']} {r['stress']}" for r in dead)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--cases", default="v3-10ms,v3-100ms")
    p.add_argument("--stress", default="cpu,vm")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--vrrpd", default="target/release/vrrpd")
    p.add_argument("--only", choices=["keepalived", "vrrpd"])
    p.add_argument("--keep-logs", action="store_true", help="keep the daemons' logs")
    p.add_argument("--ksoftirqd-priority", type=int, metavar="PRIORITY",
                   help="run the host's ksoftirqd threads in SCHED_FIFO at this priority "
                        "for the benchmark (restored afterwards): an operator's tuning")
    p.add_argument("--no-floor", action="store_true",
                   help="leave out benches/delivery_probe.py (the floor column)")
    p.add_argument("--realtime", type=int, metavar="PRIORITY",
                   help="the daemons' realtime knob at this priority (vrrpd "
                        "--realtime-priority, keepalived vrrp_rt_priority)")
    p.add_argument("--realtime-for", choices=["both", "vrrpd", "keepalived"], default="both",
                   help="whose knob --realtime turns on: `vrrpd` compares the shipped units "
                        "(vrrpd's turns it on, Debian's keepalived's does not)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("load.py: must run as root", file=sys.stderr)
        return 2
    if not shutil.which("stress-ng"):
        print("load.py: stress-ng not found (apt-get install stress-ng)", file=sys.stderr)
        return 2
    if not 1 <= args.seconds <= 3600 or not 1 <= args.rounds <= 20:
        p.error("--seconds 1..3600, --rounds 1..20")
    vrrpd = args.vrrpd if os.path.isabs(args.vrrpd) else os.path.join(fb.REPO_ROOT, args.vrrpd)
    impls: list[fb.Implementation] = [fb.Keepalived(), fb.Vrrpd(vrrpd)]
    if args.only:
        impls = [i for i in impls if i.name == args.only]
    if args.realtime is not None:
        if not 1 <= args.realtime <= 99:
            p.error("--realtime 1..99")
        impls = [Realtime(i, args.realtime) if args.realtime_for in ("both", i.name) else i
                 for i in impls]
    for impl in impls:
        reason = impl.available()
        if reason:
            print(f"load.py: {reason}", file=sys.stderr)
            return 2
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": fb.cpu_model(),
        "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
        "command": " ".join(["sudo python3 benches/load.py"] + argv),
        "realtime": ", ".join(
            f"{i.name} at priority {i.priority}" if isinstance(i, Realtime) else f"{i.name} off"
            for i in impls),
    }
    if args.ksoftirqd_priority is not None:
        if not 1 <= args.ksoftirqd_priority <= 99:
            p.error("--ksoftirqd-priority 1..99")
        meta["realtime"] += f"; ksoftirqd SCHED_FIFO {args.ksoftirqd_priority}"
    prefix = f"vload{os.getpid()}-"
    rows = []
    try:
        if args.ksoftirqd_priority is not None:
            set_ksoftirqd(args.ksoftirqd_priority)
        run_all(args, prefix, impls, rows)
    finally:
        if args.ksoftirqd_priority is not None:
            set_ksoftirqd(None)
    print(render(rows, meta))
    return 0


def run_all(args: argparse.Namespace, prefix: str, impls: list[fb.Implementation],
            rows: list[dict]) -> None:
    for round_ in range(1, args.rounds + 1):
        for kind in [k for k in args.stress.split(",") if k]:
            for key in [k for k in args.cases.split(",") if k]:
                for row in one_run(prefix, impls, fb.CASES[key], kind, args.seconds,
                                   args.keep_logs, not args.no_floor):
                    row["round"] = round_
                    rows.append(row)
                    fb.log(f"  {row}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
