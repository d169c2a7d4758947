#!/usr/bin/env python3
"""Planned moves repeated at scale (issue 15): does any planned move lose a probe?

Run it through benches/planned_moves.sh (root; the wrapper adds a second cleanup layer).
Python 3 standard library only; the lab, the daemons and the real-time prober are
failover.py's.

One vrrpd pair per case (lb1 priority 150, lb2 priority 100, the lab of failover.py), and
for the whole run two probers on the client, both to the VIP every 10 ms:

  rt    failover.py's prober: SCHED_FIFO, raw ICMP out, replies read off an AF_PACKET
        socket with kernel receive timestamps, so the answering MAC is known;
  ping  plain `ping -i 0.01 -W 0.05 -D -O`, as an operator would run it.

Each round makes seven moves, one after the other:

  stop       SIGTERM to lb1's vrrpd (make-before-break hand-over to lb2)
  failback   lb1's vrrpd started again (it preempts lb2)
  restart    SIGTERM, wait for the exit, start at once (two moves, one window)
  demote     `vrrpd demote VI_1` on lb1
  promote    `vrrpd promote VI_1` on lb1
  reload-remove  SIGHUP with a config without VI_1 (VI_2, another VRID and address, stays)
  reload-add     SIGHUP with VI_1 back (it starts as backup and preempts)

Before each move the client's neighbour entry for the VIP is put into one state, in turn:
REACHABLE, STALE (the next probe makes it DELAY) or PROBE (unicast ARP to the old holder).
The entry before and after each move is recorded.

Per move and prober: the longest gap between two replies in the window (from the trigger to
the moment the old holder let go, plus a 300 ms tail) and the probes lost in it. With
--capture the client's eth0 and both nodes' eth0 are captured (dumpcap, from tshark) for evidence; the
window of every move whose gap exceeds --threshold is printed from the captures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import failover  # noqa: E402  (the lab, the daemons, the prober)
from failover import CASES, NODES, VIP, BenchError, Lab, Prober, Vrrpd, log  # noqa: E402

MOVES = ["stop", "failback", "restart", "demote", "promote", "reload-remove", "reload-add"]
NEIGHBOUR_STATES = ["reachable", "stale", "probe"]
TAIL_S = 0.3
# A request sent in the last 60 ms of a window may still be in flight (ping's -W 0.05).
IN_FLIGHT_S = 0.06


class PingProber:
    """`ping -i 0.01 -W 0.05 -D -O` in the client namespace for the whole run."""

    LINE = re.compile(r"^\[(\d+\.\d+)\] (?:\d+ bytes from [^:]+: icmp_seq=(\d+) |"
                      r"no answer yet for icmp_seq=(\d+))")

    def __init__(self, lab: Lab):
        self.replies: list[tuple[int, float]] = []  # (unwrapped seq, CLOCK_REALTIME time)
        self.highest_seq = -1
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.ns("cl"), "ping", "-i", "0.01", "-W", "0.05", "-D",
             "-O", VIP], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self._last_raw = -1
        self._wraps = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _unwrap(self, raw: int) -> int:
        # icmp_seq is 16 bits on the wire; ping prints it as it wraps.
        if self._last_raw >= 0 and raw < self._last_raw - 30000:
            self._wraps += 1
        self._last_raw = max(self._last_raw, raw) if raw >= self._last_raw - 30000 else raw
        return self._wraps * 65536 + raw

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = self.LINE.match(line)
            if not m:
                continue
            t = float(m.group(1))
            seq = self._unwrap(int(m.group(2) or m.group(3)))
            with self.lock:
                self.highest_seq = max(self.highest_seq, seq)
                if m.group(2) is not None:
                    self.replies.append((seq, t))

    def snapshot(self) -> list[tuple[int, float]]:
        with self.lock:
            return list(self.replies)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(3)
        self.reader.join(3)


def realtime_minus_monotonic() -> float:
    return time.time() - time.monotonic()


def neighbour(lab: Lab) -> str:
    out = failover.run(["ip", "-n", lab.ns("cl"), "neigh", "show", VIP, "dev", "eth0"],
                       check=False).strip()
    parts = out.split()
    mac = parts[parts.index("lladdr") + 1] if "lladdr" in parts else "-"
    node = next((n for n, v in NODES.items() if v[1] == mac), mac)
    return f"{node} {parts[-1] if parts else 'none'}"


def set_neighbour(lab: Lab, holder: str, state: str) -> None:
    failover.run(["ip", "-n", lab.ns("cl"), "neigh", "replace", VIP, "lladdr",
                  NODES[holder][1], "nud", state, "dev", "eth0"])


class Node:
    """lb1's vrrpd (the one that moves), with the configs a reload swaps in."""

    def __init__(self, lab: Lab, impl: Vrrpd, case):
        self.lab, self.impl, self.case = lab, impl, case
        self.daemon = lab.start_daemon(impl, "lb1", case)
        with open(self.daemon.conf) as f:
            self.full = json.load(f)
        self.without = json.loads(json.dumps(self.full))
        other = self.without["instances"][0]
        other.update({"name": "VI_2", "virtual_router_id": 51,
                      "virtual_addresses": ["192.0.2.50"]})

    def reload(self, config: dict) -> None:
        with open(self.daemon.conf, "w") as f:
            json.dump(config, f)
        os.kill(self.daemon.pid, signal.SIGHUP)

    def restart(self) -> None:
        self.lab.daemons.remove(self.daemon)
        # start_daemon writes the full config again.
        self.daemon = self.lab.start_daemon(self.impl, "lb1", self.case)

    def control(self, verb: str) -> None:
        out = subprocess.run(
            [self.impl.binary, verb, "VI_1", "--socket",
             Vrrpd.control_socket(self.lab.workdir, "lb1")],
            capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise BenchError(f"vrrpd {verb} failed: {out.stderr.strip()}")


def wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise BenchError(f"timed out ({timeout:.1f} s) waiting for {what}")


def holds(lab: Lab, node: str) -> bool:
    return lab.has_vip(node)


def do_move(lab: Lab, node: Node, move: str, case) -> None:
    """Trigger `move` and return once the old holder has let go (the move is complete)."""
    limit = 10 + 4 * case.master_down_s
    alone = {"lb1": lambda: holds(lab, "lb1") and not holds(lab, "lb2"),
             "lb2": lambda: holds(lab, "lb2") and not holds(lab, "lb1")}
    if move == "stop":
        os.kill(node.daemon.pid, signal.SIGTERM)
        node.daemon.wait_dead(timeout=limit)
        wait(alone["lb2"], limit, "lb2 alone after the stop")
    elif move == "failback":
        node.restart()
        wait(alone["lb1"], limit, "lb1 alone after the failback")
    elif move == "restart":
        os.kill(node.daemon.pid, signal.SIGTERM)
        node.daemon.wait_dead(timeout=limit)
        node.restart()
        wait(alone["lb1"], limit, "lb1 alone after the restart")
    elif move == "demote":
        node.control("demote")
        wait(alone["lb2"], limit, "lb2 alone after the demote")
    elif move == "promote":
        node.control("promote")
        wait(alone["lb1"], limit, "lb1 alone after the promote")
    elif move == "reload-remove":
        node.reload(node.without)
        wait(alone["lb2"], limit, "lb2 alone after the reload-remove")
    elif move == "reload-add":
        node.reload(node.full)
        wait(alone["lb1"], limit, "lb1 alone after the reload-add")
    else:
        raise BenchError(f"unknown move {move}")


OLD_HOLDER = {"stop": "lb1", "failback": "lb2", "restart": "lb1", "demote": "lb1",
              "promote": "lb2", "reload-remove": "lb1", "reload-add": "lb2"}


def window_figures(sent: list[tuple[int, float]], replies: list[tuple[float]],
                   answered: set[int], start: float, end: float) -> tuple[float, float, int]:
    """Longest gap between replies within [start, end] (the gap from the last reply before
    `start` counts too), when it began, and requests sent in the window without a reply."""
    times = sorted(replies)
    before = [t for t in times if t < start]
    inside = [t for t in times if start <= t <= end]
    seq = ([before[-1]] if before else []) + inside
    gap, gap_at = max(((b - a, a) for a, b in zip(seq, seq[1:])), default=(float("nan"), start))
    lost = sum(1 for s, t in sent if start <= t <= end - IN_FLIGHT_S and s not in answered)
    return gap, gap_at, lost


def start_captures(lab: Lab, case) -> list[tuple[str, subprocess.Popen]]:
    captures = []
    for host in ("cl", "lb1", "lb2"):
        path = os.path.join(lab.workdir, f"{case.key}-{host}.pcap")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.ns(host), "dumpcap", "-q", "-i", "eth0", "-s", "96",
             "-f", "arp or icmp or proto 112", "-w", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        captures.append((path, proc))
    time.sleep(1.0)  # dumpcap is listening
    return captures


def stop_captures(captures: list[tuple[str, subprocess.Popen]]) -> None:
    for _, proc in captures:
        proc.send_signal(signal.SIGINT)
    for _, proc in captures:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def print_window(captures: list[tuple[str, subprocess.Popen]], start: float, end: float) -> None:
    """The captured frames of [start, end] (CLOCK_REALTIME), every host, merged by time."""
    lines = []
    for path, _ in captures:
        host = path.rsplit("-", 1)[1].split(".")[0]
        out = subprocess.run(
            ["tshark", "-r", path, "-t", "e", "-n", "-Y",
             f"frame.time_epoch >= {start:.6f} && frame.time_epoch <= {end:.6f}",
             "-T", "fields", "-e", "frame.time_epoch", "-e", "eth.src", "-e", "eth.dst",
             "-e", "_ws.col.Info"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            stamp, _, rest = line.partition("\t")
            lines.append((float(stamp), f"{host:>3} {rest}"))
    for stamp, text in sorted(lines):
        print(f"    {stamp:.6f} {text}")


def longest_pause(sent: list[tuple[int, float]], start: float, end: float) -> float:
    """The prober's own longest pause between two requests in [start, end]: a gap in the
    replies no longer than this was the prober (or the whole machine) not running."""
    times = [t for _, t in sent if start <= t <= end]
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def run_case(lab: Lab, impl: Vrrpd, case, rounds: int, threshold_s: float,
             results: list[dict], capture: bool) -> None:
    node = Node(lab, impl, case)
    backup = lab.start_daemon(impl, "lb2", case)
    captures = start_captures(lab, case) if capture else []
    try:
        wait(lambda: holds(lab, "lb1") and not holds(lab, "lb2"),
             10 + 4 * case.master_down_s, "the first election")
        rt = Prober(lab)
        ping = PingProber(lab)
        try:
            if not rt.wait_for(lambda r: len(r) >= 50, timeout=5):
                raise BenchError("the client gets no replies")
            index = 0
            for round_number in range(rounds):
                for move in MOVES:
                    state = NEIGHBOUR_STATES[index % len(NEIGHBOUR_STATES)]
                    index += 1
                    # Let the VIP settle: the follow-up GARP (100 ms) and a few adverts.
                    time.sleep(0.3 + 2 * case.interval_s)
                    set_neighbour(lab, OLD_HOLDER[move], state)
                    before = neighbour(lab)
                    start = time.monotonic()
                    do_move(lab, node, move, case)
                    settled = time.monotonic()
                    time.sleep(TAIL_S)
                    end = time.monotonic()
                    results.append({
                        "case": case.key, "round": round_number, "move": move,
                        "neighbour": state, "before": before, "after": neighbour(lab),
                        "start": start, "settled": settled, "end": end,
                        "offset": realtime_minus_monotonic(),
                    })
                log(f"{case.key}: round {round_number + 1}/{rounds} done")
        finally:
            rt.stop()
            ping.stop()
        # Replies carry the 16-bit sequence number of the wire; the prober's sent list counts
        # on past 65535 (after 11 minutes at 10 ms). Map each reply to the latest request
        # sent before it with those low 16 bits.
        sent_by_low: dict[int, list[tuple[float, int]]] = {}
        for seq, t in rt.sent:
            sent_by_low.setdefault(seq & 0xFFFF, []).append((t, seq))
        rt_answered = set()
        for low, t_reply, _ in rt.snapshot():
            candidates = [seq for t_sent, seq in sent_by_low.get(low, []) if t_sent <= t_reply]
            if candidates:
                rt_answered.add(candidates[-1])
        rt_replies = [t for _, t, _ in rt.snapshot()]
        ping_snapshot = ping.snapshot()
        ping_answered = {s for s, _ in ping_snapshot}
        # ping prints no send time; a request is sent every 10 ms from the first reply on,
        # so a missing sequence number up to the highest printed is a lost request, placed
        # at the time of its neighbours' replies.
        ping_sent = []
        known = sorted(ping_snapshot)
        if known:
            times = dict(known)
            last_t = known[0][1]
            for s in range(known[0][0], ping.highest_seq + 1):
                last_t = times.get(s, last_t + 0.01)
                ping_sent.append((s, last_t))
        for r in results:
            if r["case"] != case.key or "rt_gap_ms" in r:
                continue
            start, end = r["start"], r["end"]
            off = r["offset"]
            gap, at, lost = window_figures(rt.sent, rt_replies, rt_answered, start, end)
            r["rt_gap_ms"], r["rt_lost"] = round(gap * 1000, 1), lost
            r["rt_pause_ms"] = round(longest_pause(rt.sent, start, end) * 1000, 1)
            r["gap_at"] = at + off  # CLOCK_REALTIME, the captures' clock
            gap, at, lost = window_figures(ping_sent, [t for _, t in ping_snapshot],
                                           ping_answered, start + off, end + off)
            r["ping_gap_ms"], r["ping_lost"] = round(gap * 1000, 1), lost
            if r["ping_gap_ms"] > r["rt_gap_ms"]:
                r["gap_at"] = at
            r["flagged"] = (max(r["rt_gap_ms"], r["ping_gap_ms"]) > threshold_s * 1000
                            or r["rt_lost"] > 0 or r["ping_lost"] > 0)
            # A reply gap no longer than the prober's own pause (+ one interval) is the
            # prober or the machine, not the path.
            r["rt_gap_is_pause"] = r["rt_gap_ms"] <= r["rt_pause_ms"] + 1000 * case.interval_s
        stop_captures(captures)
        for r in results:
            if r["case"] == case.key and r.pop("flagged", False):
                log(f"{case.key} {r['move']} (neighbour {r['neighbour']}, {r['before']} -> "
                    f"{r['after']}): rt gap {r['rt_gap_ms']} ms lost {r['rt_lost']} (the rt "
                    f"prober's own longest pause {r['rt_pause_ms']} ms), ping gap "
                    f"{r['ping_gap_ms']} ms lost {r['ping_lost']}")
                if captures:
                    # The frames around the longest gap, 20 ms either side.
                    gap_s = max(r["rt_gap_ms"], r["ping_gap_ms"]) / 1000
                    print_window(captures, r["gap_at"] - 0.02, r["gap_at"] + gap_s + 0.02)
    finally:
        stop_captures(captures)
        for d in (node.daemon, backup):
            d.stop()
            if d in lab.daemons:
                lab.daemons.remove(d)
        lab.drop_vip("lb1")
        lab.drop_vip("lb2")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render(results: list[dict], meta: dict, threshold_ms: float) -> str:
    lines = [
        f"{meta['date']}, {meta['machine']}, vrrpd {meta['version']}, `{meta['command']}`:",
        "",
        f"| case | move | moves | prober | median gap | p90 | max gap | moves > "
        f"{threshold_ms:.0f} ms | of them, the rt prober's own pause | lost probes |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r["case"] for r in results):
        for move in MOVES:
            rows = [r for r in results if r["case"] == case and r["move"] == move
                    and "rt_gap_ms" in r]
            if not rows:
                continue
            for prober in ("rt", "ping"):
                gaps = [r[f"{prober}_gap_ms"] for r in rows]
                over = sum(1 for g in gaps if g > threshold_ms)
                paused = ("-" if prober == "ping" else str(sum(
                    1 for r in rows if r["rt_gap_ms"] > threshold_ms and r["rt_gap_is_pause"])))
                lost = sum(r[f"{prober}_lost"] for r in rows)
                lines.append(
                    f"| {case} | {move} | {len(rows)} | {prober} | "
                    f"{statistics.median(gaps):.1f} ms | {percentile(gaps, 0.9):.1f} ms | "
                    f"{max(gaps):.1f} ms | {over} | {paused} | {lost} |")
    by_state = {}
    for r in results:
        if "rt_gap_ms" in r:
            by_state.setdefault(r["neighbour"], []).append(r)
    lines += ["", "By the client's neighbour state before the move (all cases and moves):", "",
              "| neighbour entry | moves | rt max gap | ping max gap | lost (rt / ping) |",
              "|---|---:|---:|---:|---:|"]
    for state in NEIGHBOUR_STATES:
        rows = by_state.get(state, [])
        if rows:
            lines.append(
                f"| {state} | {len(rows)} | {max(r['rt_gap_ms'] for r in rows):.1f} ms | "
                f"{max(r['ping_gap_ms'] for r in rows):.1f} ms | "
                f"{sum(r['rt_lost'] for r in rows)} / {sum(r['ping_lost'] for r in rows)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="planned moves repeated (root, netns lab)")
    p.add_argument("--vrrpd", default="target/release/vrrpd")
    p.add_argument("--rounds", type=int, default=15,
                   help="rounds of the seven moves per case (default 15)")
    p.add_argument("--cases", default="v3-10ms,v2-1s")
    p.add_argument("--threshold-ms", type=float, default=30.0,
                   help="a gap above this is reported with its window (default 30)")
    p.add_argument("--json", metavar="FILE", help="write every move's figures as JSON")
    p.add_argument("--capture", action="store_true",
                   help="capture every host's eth0 and print the window of a flagged move")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--ns-prefix", default=f"vplan{os.getpid()}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("planned_moves.py: must run as root", file=sys.stderr)
        return 2
    if not 1 <= args.rounds <= 500:
        p.error("--rounds must be 1..500")
    binary = args.vrrpd if os.path.isabs(args.vrrpd) else os.path.join(failover.REPO_ROOT,
                                                                       args.vrrpd)
    impl = Vrrpd(binary)
    why_not = impl.available()
    if why_not:
        print(f"planned_moves.py: {why_not}", file=sys.stderr)
        return 2
    cases = [CASES[k] for k in args.cases.split(",") if k]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, kernel {os.uname().release}, load "
                   + " ".join(open("/proc/loadavg").read().split()[:3]),
        "version": impl.version(),
        "command": " ".join(["sudo benches/planned_moves.sh"] + failover.strip_internal(argv)),
    }
    lab = Lab(args.ns_prefix, args.keep_logs)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    results: list[dict] = []
    try:
        lab.build()
        for case in cases:
            run_case(lab, impl, case, args.rounds, args.threshold_ms / 1000, results,
                     args.capture)
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        lab.cleanup()
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "moves": results}, f, indent=1)
    print(render(results, meta, args.threshold_ms), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
