#!/usr/bin/env python3
"""Control-socket and metrics abuse: what a crowd of local clients does to vrrpd's master.

Run it through benches/abuse.sh (root; the wrapper builds benches/flooder.c, whose watch
mode counts adverts, and adds a second cleanup layer). Python 3 standard library only.

Lab (names carry the run's prefix; documentation addresses only): PREFIX-lb1 (eth0
192.0.2.41, priority 150, the master, metrics on 127.0.0.1:9650 inside its namespace) and
PREFIX-lb2 (192.0.2.42, priority 100), joined by a veth. vrrpd runs with the file-descriptor
limit a systemd unit without LimitNOFILE= gets (soft 1024, hard 524288), as the shipped
unit does. Its control socket is in a world-traversable directory, so that only the
socket's own mode keeps other users out.

Phases, one after the other, each for SECONDS, by a client process in lb1's namespace:

  control-status    CLIENTS concurrent clients, each asking {"command":"status"} in a loop
  control-garbage   CLIENTS clients sending random-byte lines (1..4,096 bytes), reconnecting
                    whenever vrrpd hangs up
  control-1mb       CLIENTS clients sending 1 MiB lines, reconnecting when hung up on
  metrics-idle      IDLE TCP connections to the metrics port, opened and left silent
  metrics-slowloris SLOW connections that send a request's headers one line every 2 s and
                    never finish them

During each: a probe asks the control socket for the status and GETs /metrics on fresh
connections every 0.5 s (answered within 2 s, or failed); the backup's link is watched for
the master's adverts (count, max and 99th-percentile gap); vrrpd's VmRSS and open file
descriptors are sampled every 100 ms (peak), and again 3 s after the phase (after: what it
gave back); CPU (utime+stime) over the phase; transitions and "accept failed" lines in the
logs. Last, a user with no privileges (nobody) tries to connect to the control socket.

With --track-exec the master tracks an exec check of /bin/true (every 500 ms, fall 3,
weight -60: 150 - 60 = 90 is below the backup's 100), which fails only when vrrpd cannot
run it: a transition then says that the abuse reached the health checks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NODES = {"lb1": ("192.0.2.41", "02:00:00:00:00:41", 150),
         "lb2": ("192.0.2.42", "02:00:00:00:00:42", 100)}
VIP = "192.0.2.40"
VRID = 50
METRICS = ("127.0.0.1", 9650)
PHASES = ["control-status", "control-garbage", "control-1mb", "metrics-idle",
          "metrics-slowloris"]
ENTERING_RE = re.compile(r"Entering (MASTER|BACKUP|FAULT|INIT) STATE")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(argv: list[str], check: bool = True, timeout: float = 20) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# The attacking side (runs inside lb1's namespace: abuse.py --attack PHASE ...)
# --------------------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.answers = 0
        self.connects = 0
        self.connect_failures = 0
        self.hung_up = 0
        self.open_at_end = 0


async def read_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    return await asyncio.wait_for(reader.readline(), timeout)


async def control_client(path: str, kind: str, deadline: float, tally: Tally) -> None:
    rng = random.Random()
    big = b"x" * (1 << 20) + b"\n"
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 2)
        except (OSError, asyncio.TimeoutError):
            tally.connect_failures += 1
            await asyncio.sleep(0.05)
            continue
        tally.connects += 1
        try:
            while time.monotonic() < deadline:
                if kind == "control-status":
                    line = b'{"command":"status"}\n'
                elif kind == "control-garbage":
                    length = rng.randint(1, 4096)
                    line = os.urandom(length).replace(b"\n", b" ") + b"\n"
                else:
                    line = big
                writer.write(line)
                await asyncio.wait_for(writer.drain(), 5)
                answer = await read_line(reader, 5)
                if not answer:
                    tally.hung_up += 1
                    break
                tally.answers += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            tally.hung_up += 1
        finally:
            writer.close()


async def metrics_holder(kind: str, deadline: float, tally: Tally) -> None:
    """Opens one connection and keeps it: silent (idle) or a header line every 2 s."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*METRICS), 5)
    except (OSError, asyncio.TimeoutError):
        tally.connect_failures += 1
        return
    tally.connects += 1
    header = 0
    try:
        if kind == "metrics-slowloris":
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(4096), 2)
                if not data:
                    tally.hung_up += 1
                    return
            except asyncio.TimeoutError:
                pass
            if kind == "metrics-slowloris":
                header += 1
                writer.write(f"X-Slow-{header}: {header}\r\n".encode())
                await asyncio.wait_for(writer.drain(), 5)
        tally.open_at_end += 1
    except (OSError, asyncio.TimeoutError):
        tally.hung_up += 1
    finally:
        writer.close()


async def probe(path: str, deadline: float) -> dict:
    """Every 0.5 s: a status over the control socket and a GET /metrics, 2 s each."""
    control, metrics = [], []
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 2)
            writer.write(b'{"command":"status"}\n')
            answer = await read_line(reader, 2 - (time.monotonic() - started))
            writer.close()
            control.append(time.monotonic() - started if b'"ok":true' in answer else None)
        except (OSError, asyncio.TimeoutError, ValueError):
            control.append(None)
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*METRICS), 2)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            body = await asyncio.wait_for(reader.read(), 2 - (time.monotonic() - started))
            writer.close()
            metrics.append(time.monotonic() - started if body.startswith(b"HTTP/1.1 200")
                           else None)
        except (OSError, asyncio.TimeoutError, ValueError):
            metrics.append(None)
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - started)))

    def summary(samples: list) -> dict:
        ok = [s for s in samples if s is not None]
        return {"ok": len(ok), "total": len(samples),
                "max_ms": max(ok) * 1000 if ok else None}

    return {"control": summary(control), "metrics": summary(metrics)}


async def attack(kind: str, path: str, seconds: float, clients: int) -> dict:
    deadline = time.monotonic() + seconds
    tally = Tally()
    if kind.startswith("control"):
        tasks = [control_client(path, kind, deadline, tally) for _ in range(clients)]
    else:
        tasks = []
        for _ in range(clients):
            tasks.append(asyncio.ensure_future(metrics_holder(kind, deadline, tally)))
            await asyncio.sleep(0.002)  # 1,000 connections in ~2 s, not one SYN storm
    probed = asyncio.ensure_future(probe(path, deadline))
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), seconds + 30)
    result = await probed
    result.update(answers=tally.answers, connects=tally.connects,
                  connect_failures=tally.connect_failures, hung_up=tally.hung_up,
                  open_at_end=tally.open_at_end)
    return result


def attack_main(args: argparse.Namespace) -> int:
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    except (ValueError, OSError):
        pass
    result = asyncio.run(attack(args.attack, args.socket, args.seconds, args.clients))
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]


class Lab:
    def __init__(self, prefix: str, keep: bool):
        self.prefix = prefix
        self.keep = keep
        self.workdir = tempfile.mkdtemp(prefix=f"{prefix}-")
        # World-traversable, so that only the control socket's own mode keeps others out.
        os.chmod(self.workdir, 0o755)
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def ns(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def build(self) -> None:
        for short in NODES:
            run(["ip", "netns", "add", self.ns(short)])
            self.namespaces.append(self.ns(short))
            run(["ip", "-n", self.ns(short), "link", "set", "lo", "up"])
        run(["ip", "link", "add", "eth0", "netns", self.ns("lb1"), "type", "veth", "peer",
             "name", "eth0", "netns", self.ns("lb2")])
        for short, (address, mac, _) in NODES.items():
            run(["ip", "-n", self.ns(short), "link", "set", "eth0", "address", mac, "up"])
            run(["ip", "-n", self.ns(short), "addr", "add", f"{address}/24", "dev", "eth0"])

    def spawn(self, ns: str, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(ns)] + argv,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def has_vip(self, node: str) -> bool:
        return f" {VIP}/" in run(["ip", "-n", self.ns(node), "-o", "-4", "addr", "show"])

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        for ns in reversed(self.namespaces):
            for pid in run(["ip", "netns", "pids", ns], check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
        if self.keep:
            log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def write_config(workdir: str, node: str, interval_ms: int,
                 track_exec: bool) -> tuple[str, str]:
    socket_dir = os.path.join(workdir, f"{node}-run")
    os.makedirs(socket_dir, mode=0o755, exist_ok=True)
    os.chmod(socket_dir, 0o755)
    sock = os.path.join(socket_dir, "control.sock")
    config = {"control_socket": sock,
              "state_directory": os.path.join(workdir, f"{node}-state"),
              "instances": [{"name": "VI_1", "interface": "eth0", "virtual_router_id": VRID,
                             "version": 3, "priority": NODES[node][2],
                             "advert_interval_ms": interval_ms, "virtual_addresses": [VIP]}]}
    if node == "lb1":
        config["metrics_listen"] = f"{METRICS[0]}:{METRICS[1]}"
        if track_exec:
            # A check that cannot fail by itself: only vrrpd failing to run it can.
            config["trackers"] = [{"name": "alive",
                                   "check": {"type": "exec", "command": ["/bin/true"]},
                                   "interval_ms": 500, "timeout_ms": 1000, "fall": 3,
                                   "rise": 2}]
            config["instances"][0]["track"] = [{"tracker": "alive", "weight": -60}]
    path = os.path.join(workdir, f"vrrpd-{node}.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path, sock


def unprivileged_connect(sock: str) -> str:
    """What `nobody` gets from connect(2) on the control socket."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1]); print('connected')\n"
            "except OSError as e:\n    print(type(e).__name__, e.errno, e.strerror)\n")
    out = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               sys.executable, "-c", code, sock], check=False)
    return out.strip()


def user_arguments(argv: list[str]) -> list[str]:
    """The command line as typed to the wrapper: without what the wrapper added."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--ns-prefix", "--flooder"):
            skip = True
        else:
            out.append(arg)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attack", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--ns-prefix")
    parser.add_argument("--vrrpd", default="target/release/vrrpd")
    parser.add_argument("--flooder", help="the built benches/flooder.c (its watch mode)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--nofile", default="1024:",
                        help="vrrpd RLIMIT_NOFILE as prlimit takes it (soft 1024: systemd default soft limit)")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--track-exec", action="store_true",
                        help="lb1 tracks an exec check of /bin/true (weight -60, fall 3): "
                        "what file-descriptor exhaustion does to health checks")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if args.attack:
        return attack_main(args)
    if not args.ns_prefix or not args.flooder:
        parser.error("run through benches/abuse.sh")
    if not 0 < args.seconds <= 300 or not 1 <= args.clients <= 5000 \
            or not 1 <= args.idle <= 5000 or not 1 <= args.slow <= 5000:
        parser.error("--seconds (0, 300], --clients/--idle/--slow 1..5000")
    phases = [p for p in args.phases.split(",") if p]
    for p in phases:
        if p not in PHASES:
            parser.error(f"unknown phase {p}")
    vrrpd = os.path.abspath(args.vrrpd)
    if not os.access(vrrpd, os.X_OK):
        raise BenchError(f"no vrrpd at {vrrpd} (cargo build --release)")
    version = run([vrrpd, "--version"]).strip()
    load = open("/proc/loadavg").read().split()[:3]
    print(f"# benches/abuse.sh {' '.join(user_arguments(sys.argv[1:]))}")
    print(f"# {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, "
          f"{os.cpu_count()} CPUs, load average at start {' '.join(load)}; {version}; "
          f"vrrpd RLIMIT_NOFILE {args.nofile}; VRRPv3 {args.interval_ms} ms adverts")
    sys.stdout.flush()
    lab = Lab(args.ns_prefix, args.keep_logs)

    def handle_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handle_signal)
    rows = []
    try:
        lab.build()
        logs, socks, daemons = {}, {}, {}
        for node in ("lb2", "lb1"):
            conf, socks[node] = write_config(lab.workdir, node, args.interval_ms,
                                             args.track_exec)
            logs[node] = os.path.join(lab.workdir, f"vrrpd-{node}.log")
            with open(logs[node], "w") as logf:
                daemons[node] = lab.spawn(node, ["prlimit", f"--nofile={args.nofile}", vrrpd,
                                                 "run", "--config", conf],
                                          stdout=logf, stderr=subprocess.STDOUT)
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while not (lab.has_vip("lb1") and not lab.has_vip("lb2")):
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons.values()):
                raise BenchError("lb1 did not become the only master")
            time.sleep(0.05)
        time.sleep(6)  # past the second GARP burst
        pid = daemons["lb1"].pid
        hz = os.sysconf("SC_CLK_TCK")
        for phase in phases:
            clients = {"metrics-idle": args.idle, "metrics-slowloris": args.slow}.get(
                phase, args.clients)
            log(f"{phase}: {clients} clients for {args.seconds:g} s")
            # The watcher writes its file when it stops: one per phase.
            watch_path = os.path.join(lab.workdir, f"watch-lb2-{phase}.txt")
            with open(watch_path, "w") as out:
                watcher = lab.spawn("lb2", [os.path.abspath(args.flooder), "watch", "eth0",
                                            str(args.seconds + 60), NODES["lb1"][1]],
                                    stdout=out, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            offsets = {node: os.path.getsize(logs[node]) for node in logs}
            rss_before, fds_before, cpu_before = rss_kib(pid), open_fds(pid), cpu_ticks(pid)
            t0 = time.time_ns()
            attacker = lab.spawn("lb1", [sys.executable, os.path.abspath(__file__), "--attack",
                                         phase, "--socket", socks["lb1"], "--seconds",
                                         str(args.seconds), "--clients", str(clients)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak_rss, peak_fds = rss_before, fds_before
            stop_at = time.monotonic() + args.seconds + 40
            while attacker.poll() is None and time.monotonic() < stop_at:
                if daemons["lb1"].poll() is not None:
                    raise BenchError(f"vrrpd lb1 died during {phase} "
                                     f"(status {daemons['lb1'].returncode})")
                peak_rss, peak_fds = max(peak_rss, rss_kib(pid)), max(peak_fds, open_fds(pid))
                time.sleep(0.1)
            t1 = time.time_ns()
            cpu_after = cpu_ticks(pid)
            if attacker.poll() is None:
                attacker.kill()
            out, err = attacker.communicate(timeout=10)
            try:
                result = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError) as e:
                raise BenchError(f"attacker for {phase} said {out!r} {err!r}") from e
            time.sleep(3)
            watcher.terminate()
            watcher.wait(5)
            rss_after, fds_after = rss_kib(pid), open_fds(pid)
            text = {node: open(logs[node], errors="replace").read()[offsets[node]:]
                    for node in logs}
            frames = []
            with open(watch_path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 5 and parts[2] == "v4" and int(parts[3]) == VRID \
                            and parts[1] == NODES["lb1"][1] and t0 <= int(parts[0]) <= t1:
                        frames.append(int(parts[0]))
            edges = [t0] + frames + [t1]
            gaps = [(b - a) / 1e6 for a, b in zip(edges, edges[1:])]
            rows.append({
                "phase": phase, "clients": clients, **result,
                "transitions": sum(len(ENTERING_RE.findall(t)) for t in text.values()),
                "accept_failed": len(re.findall(r"accept failed", text["lb1"])),
                "adverts": len(frames), "max_gap_ms": max(gaps),
                "p99_gap_ms": percentile(gaps, 0.99),
                "cpu_pct": (cpu_after - cpu_before) / hz / ((t1 - t0) / 1e9) * 100,
                "rss_kib": [rss_before, peak_rss, rss_after],
                "fds": [fds_before, peak_fds, fds_after],
                "wall_s": (t1 - t0) / 1e9,
            })
        unprivileged = unprivileged_connect(socks["lb1"])
        mode = oct(os.stat(socks["lb1"]).st_mode & 0o777)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        lab.cleanup()

    def probe_text(p: dict) -> str:
        worst = "–" if p["max_ms"] is None else f"{p['max_ms']:.0f}"
        return f"{p['ok']}/{p['total']} ({worst})"

    print(f"\n{args.seconds:g} s per phase; probes: answered/asked (slowest ms), every 0.5 s, "
          "2 s allowed; RSS and fds: before / peak / 3 s after\n")
    print("| phase | clients | s | answers | connects (failed) | hung up | open at end "
          "| status probe | metrics probe | accept failed | transitions | master adverts "
          "| max gap ms | p99 gap ms | CPU % | VmRSS MiB | open fds |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        rss = " / ".join(f"{k / 1024:.1f}" for k in r["rss_kib"])
        fds = " / ".join(str(n) for n in r["fds"])
        print(f"| {r['phase']} | {r['clients']} | {r['wall_s']:.1f} | {r['answers']:,} "
              f"| {r['connects']:,} ({r['connect_failures']:,}) | {r['hung_up']:,} "
              f"| {r['open_at_end']} | {probe_text(r['control'])} | {probe_text(r['metrics'])} "
              f"| {r['accept_failed']} | {r['transitions']} | {r['adverts']} "
              f"| {r['max_gap_ms']:.1f} | {r['p99_gap_ms']:.1f} | {r['cpu_pct']:.1f} "
              f"| {rss} | {fds} |")
    print(f"\nControl socket mode {mode}; connect(2) as nobody: {unprivileged}")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"Load average at the end: {' '.join(load)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
