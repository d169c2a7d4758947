#!/usr/bin/env python3
"""Hostile input: floods and amplification, vrrpd against keepalived in the same run.

Run it through benches/hostile.sh (root; the wrapper builds benches/flooder.c with gcc and
adds a second cleanup layer). Python 3 standard library only.

Lab (every name carries the run's prefix, e.g. vhost1234-lb1; documentation addresses only):

    PREFIX-br : bridge br0, ports lb1, lb2, cl, fl; lb1's and lb2's MACs are static
                entries, so a frame unicast to one of them reaches that port alone
    PREFIX-lb1: eth0 192.0.2.41/24  02:00:00:00:00:41  priority 150 (the master)
    PREFIX-lb2: eth0 192.0.2.42/24  02:00:00:00:00:42  priority 100 (the backup)
    PREFIX-cl : eth0 192.0.2.10/24  02:00:00:00:00:10  the client (counts ARP frames)
    PREFIX-fl : eth0 192.0.2.66/24  02:00:00:00:00:66  the flooder
    VIP 192.0.2.40, VRID 50, VRRPv3 (with --ipv6 also VRID 60 over IPv6, VIP fe80::40)

One measurement: a fresh pair of one implementation; lb1 takes the VIP; the script waits
until the master's second gratuitous ARP burst (5 s after it became master, the default
of both) is over, then the flooder sends one kind of hostile frame, unicast to the master
or to the backup, at RATE frames/s for SECONDS. Measured over the flood:

  transitions   "Entering ... STATE" lines in either daemon's log (both word it alike),
                from the flood's start to 1 s after its end
  VIP events    netlink address events for the VIP in lb1 and lb2 (`ip monitor address`)
                in the same window: the backup taking it, the master losing it
  adverts       the master's adverts as the backup's link sees them (an AF_PACKET watcher
                in lb2 with a BPF filter on the routers' MACs, kernel receive timestamps);
                the gaps between consecutive ones (and from the flood's start to the first,
                from the last to its end): max and 99th percentile against the interval
  ARP frames    ARP frames from the master's MAC as the client sees them (the same watcher
                in the client's namespace); with --ipv6 also neighbour advertisements
  CPU           utime+stime (/proc/PID/stat) of each daemon over the flood, as % of one
                core; keepalived's parent and VRRP child summed
  RSS           VmRSS before and after the flood (keepalived's two processes summed)
  sent/s        the flooder's achieved rate; delivered/s: the target's eth0 rx_packets
  sock drops    what the target namespace's raw sockets dropped (/proc/net/raw and raw6,
                column drops, summed over sockets: a frame dropped by two sockets counts
                twice): frames the daemon did not read in time and, on an IPv6 socket
                with IPV6_CHECKSUM (keepalived's), frames whose checksum the kernel refused

The amplification measurement floods the master with forged priority-1 adverts (a
lower-priority master, the split-brain case) at 5,000/s for 5 s and divides the adverts
and ARP frames the master sent in that time by the forged frames.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

VIP4 = "192.0.2.40"
VIP6 = "fe80::40"
VRID4 = 50
VRID6 = 60
FORGED_SOURCE4 = "192.0.2.77"  # nobody's address: the forged "other master"
FORGED_SOURCE6 = "fe80::77"
NODES = {
    # namespace suffix: (IPv4 address, MAC, priority)
    "lb1": ("192.0.2.41", "02:00:00:00:00:41", 150),
    "lb2": ("192.0.2.42", "02:00:00:00:00:42", 100),
}
CLIENT = ("192.0.2.10", "02:00:00:00:00:10")
FLOODER = ("192.0.2.66", "02:00:00:00:00:66")
MASTER, BACKUP = "lb1", "lb2"
# The flooder's otherwise-valid adverts (wrong VRID, TTL 254, bad checksum) carry priority
# 200, above the master's 150: one that got through would make the master step down (a
# transition counted), and would reset the backup's timer. The split-brain kind carries 1.
HOSTILE_PRIORITY = 200
KINDS = ["junk", "vrid", "ttl", "checksum", "valid"]
KIND_LABELS = {
    "junk": "junk (random bytes, protocol 112)",
    "vrid": "wrong VRID (valid advert for VRID+1, priority 200)",
    "ttl": "TTL 254 (valid advert otherwise, priority 200)",
    "checksum": "bad checksum (valid advert otherwise, priority 200)",
    "valid": "priority 1 from a forged source (a lower-priority master)",
}
ENTERING_RE = re.compile(r"Entering (MASTER|BACKUP|FAULT|INIT) STATE")
GARP_QUIET_S = 6.0  # both send a second GARP burst 5 s after becoming master (their default)
SETTLE_S = 1.0


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
# The two implementations
# --------------------------------------------------------------------------------------------


class Implementation:
    name = ""

    def __init__(self, interval_ms: int, ipv6: bool):
        self.interval_ms = interval_ms
        self.ipv6 = ipv6

    def write_config(self, workdir: str, node: str) -> str:
        raise NotImplementedError

    def argv(self, workdir: str, node: str, conf: str) -> list[str]:
        raise NotImplementedError

    def pids(self, workdir: str, node: str, main_pid: int) -> list[int]:
        return [main_pid]


class Vrrpd(Implementation):
    name = "vrrpd"

    def __init__(self, interval_ms: int, ipv6: bool, binary: str):
        super().__init__(interval_ms, ipv6)
        self.binary = binary

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().splitlines()[0]

    def write_config(self, workdir: str, node: str) -> str:
        priority = NODES[node][2]
        instances = [{"name": "VI_1", "interface": "eth0", "virtual_router_id": VRID4,
                      "version": 3, "priority": priority,
                      "advert_interval_ms": self.interval_ms, "virtual_addresses": [VIP4]}]
        if self.ipv6:
            instances.append({"name": "VI_6", "interface": "eth0", "virtual_router_id": VRID6,
                              "version": 3, "priority": priority,
                              "advert_interval_ms": self.interval_ms,
                              "virtual_addresses": [VIP6]})
        path = os.path.join(workdir, f"vrrpd-{node}.json")
        with open(path, "w") as f:
            # Its own control socket and state directory in the work directory, never the
            # machine's /run/vrrpd or /var/lib/vrrpd.
            json.dump({"control_socket": os.path.join(workdir, f"vrrpd-{node}.sock"),
                       "state_directory": os.path.join(workdir, f"vrrpd-{node}-state"),
                       "instances": instances}, f, indent=2)
        return path

    def argv(self, workdir: str, node: str, conf: str) -> list[str]:
        return [self.binary, "run", "--config", conf]


class Keepalived(Implementation):
    name = "keepalived"
    binary = "/usr/sbin/keepalived"

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().splitlines()[0]

    def write_config(self, workdir: str, node: str) -> str:
        priority = NODES[node][2]
        advert_int = f"{self.interval_ms / 1000:g}"

        def instance(name: str, vrid: int, vip: str) -> str:
            # Both start as BACKUP (as tests/common keepalived_config does); priority decides.
            return (f"vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n"
                    f"    virtual_router_id {vrid}\n    priority {priority}\n"
                    f"    advert_int {advert_int}\n"
                    f"    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n")

        text = f"global_defs {{\n    router_id {node}\n    vrrp_version 3\n}}\n"
        text += instance("VI_1", VRID4, VIP4)
        if self.ipv6:
            text += instance("VI_6", VRID6, VIP6)
        path = os.path.join(workdir, f"keepalived-{node}.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def pidfile(self, workdir: str, node: str, kind: str) -> str:
        return os.path.join(workdir, f"keepalived-{node}-{kind}.pid")

    def argv(self, workdir: str, node: str, conf: str) -> list[str]:
        for kind in ("main", "vrrp", "check"):
            try:
                os.unlink(self.pidfile(workdir, node, kind))
            except FileNotFoundError:
                pass
        return [self.binary, "-n", "-l", "-D", "--vrrp", "-f", conf,
                "-p", self.pidfile(workdir, node, "main"),
                "-r", self.pidfile(workdir, node, "vrrp"),
                "-c", self.pidfile(workdir, node, "check")]

    def pids(self, workdir: str, node: str, main_pid: int) -> list[int]:
        # The parent and its VRRP child (-r pidfile): both count.
        try:
            with open(self.pidfile(workdir, node, "vrrp")) as f:
                child = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise BenchError(f"keepalived on {node}: no VRRP child pid: {e}") from e
        return [main_pid, child]


# --------------------------------------------------------------------------------------------
# /proc figures
# --------------------------------------------------------------------------------------------


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 (utime) and 15 (stime) of proc(5); index 0 here is field 3 (state).
        total += int(fields[11]) + int(fields[12])
    return total


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
        total += int(m.group(1)) if m else 0
    return total


# --------------------------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, prefix: str, flooder: str, ipv6: bool, keep: bool):
        self.prefix = prefix
        self.flooder = flooder
        self.ipv6 = ipv6
        self.keep = keep
        self.workdir = tempfile.mkdtemp(prefix=f"{prefix}-")
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def ns(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def build(self) -> None:
        br = self.ns("br")
        for short in ("br", "lb1", "lb2", "cl", "fl"):
            run(["ip", "netns", "add", self.ns(short)])
            self.namespaces.append(self.ns(short))
            run(["ip", "-n", self.ns(short), "link", "set", "lo", "up"])
        run(["ip", "-n", br, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        run(["ip", "-n", br, "link", "set", "br0", "up"])
        members = {"lb1": NODES["lb1"][:2], "lb2": NODES["lb2"][:2], "cl": CLIENT,
                   "fl": FLOODER}
        for short, (address, mac) in members.items():
            ns = self.ns(short)
            run(["ip", "-n", br, "link", "add", short, "type", "veth", "peer", "name", "eth0",
                 "netns", ns])
            run(["ip", "-n", br, "link", "set", short, "master", "br0", "up"])
            if self.ipv6:
                # Link-local addresses usable at once (no DAD wait): VRRPv3 over IPv6 sends
                # from the link-local address (RFC 5798 §5.1.2.1).
                run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                     "net.ipv6.conf.eth0.accept_dad=0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "address", mac, "up"])
            run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
            if short in NODES:
                # Static: the bridge never floods a frame unicast to this router to the others.
                run(["bridge", "-n", br, "fdb", "replace", mac, "dev", short, "master",
                     "static"])

    def spawn(self, ns: str, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(ns)] + argv,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        self.processes.append(proc)
        return proc

    def addresses(self, node: str) -> set[str]:
        data = json.loads(run(["ip", "-n", self.ns(node), "-j", "addr", "show", "dev", "eth0"]))
        return {a["local"] for link in data for a in link.get("addr_info", [])}

    def link_stats(self, node: str) -> dict:
        data = json.loads(run(["ip", "-n", self.ns(node), "-j", "-s", "link", "show", "eth0"]))
        return data[0]["stats64"]["rx"]

    def raw_socket_drops(self, node: str) -> int:
        total = 0
        for table in ("raw", "raw6"):
            text = run(["ip", "netns", "exec", self.ns(node), "cat", f"/proc/net/{table}"],
                       check=False)
            for line in text.splitlines()[1:]:
                fields = line.split()
                if fields and fields[-1].isdigit():
                    total += int(fields[-1])
        return total

    def drop_vips(self, node: str) -> None:
        for vip in [VIP4] + ([VIP6] if self.ipv6 else []):
            if vip in self.addresses(node):
                out = run(["ip", "-n", self.ns(node), "-o", "addr", "show", "dev", "eth0"])
                for m in re.finditer(rf" inet6? ({re.escape(vip)}/\d+)", out):
                    run(["ip", "-n", self.ns(node), "addr", "del", m.group(1), "dev", "eth0"],
                        check=False)

    def cleanup(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.processes:
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
        self.namespaces.clear()
        if self.keep:
            log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, a bounded wait, then SIGKILL to its whole group."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} ignored SIGTERM for {timeout} s: SIGKILL")
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


class AddressMonitor:
    """`ip monitor address` in one namespace; lines naming a VIP, stamped on arrival."""

    def __init__(self, lab: Lab, node: str):
        self.events: list[tuple[int, str]] = []
        self.proc = lab.spawn(node, ["ip", "monitor", "address"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        self.vips = [VIP4] + ([VIP6] if lab.ipv6 else [])
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if any(f" {vip}/" in line for vip in self.vips):
                self.events.append((time.time_ns(), line.strip()))

    def stop(self) -> None:
        stop_process(self.proc)
        self.thread.join(3)


class Pair:
    def __init__(self, lab: Lab, impl: Implementation, tag: str):
        self.lab, self.impl, self.tag = lab, impl, tag
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, str] = {}

    def start(self) -> None:
        for node in (MASTER, BACKUP):
            conf = self.impl.write_config(self.lab.workdir, node)
            path = os.path.join(self.lab.workdir, f"{self.tag}-{self.impl.name}-{node}.log")
            self.logs[node] = path
            with open(path, "w") as logf:
                self.procs[node] = self.lab.spawn(
                    node, self.impl.argv(self.lab.workdir, node, conf), stdout=logf,
                    stderr=subprocess.STDOUT)
            time.sleep(0.2)

    def vip_holders(self) -> tuple[bool, bool]:
        return (VIP4 in self.lab.addresses(MASTER), VIP4 in self.lab.addresses(BACKUP))

    def wait_master(self, timeout: float = 20) -> float:
        """Until lb1 alone holds the VIP; returns when that was first seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node, proc in self.procs.items():
                if proc.poll() is not None:
                    raise BenchError(f"{self.impl.name} on {node} exited: {self.log_tail(node)}")
            if self.vip_holders() == (True, False):
                return time.monotonic()
            time.sleep(0.05)
        raise BenchError(f"{self.impl.name}: lb1 did not become the only master in {timeout} s")

    def pids(self, node: str) -> list[int]:
        return self.impl.pids(self.lab.workdir, node, self.procs[node].pid)

    def log_size(self, node: str) -> int:
        return os.path.getsize(self.logs[node])

    def log_since(self, node: str, offset: int) -> str:
        with open(self.logs[node], errors="replace") as f:
            f.seek(offset)
            return f.read()

    def log_tail(self, node: str, lines: int = 10) -> str:
        with open(self.logs[node], errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self) -> None:
        for node in (BACKUP, MASTER):
            if node in self.procs:
                stop_process(self.procs[node])
        for node in (MASTER, BACKUP):
            self.lab.drop_vips(node)


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------


def read_watch(path: str) -> list[tuple[int, str, str, int, int]]:
    frames = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5:
                frames.append((int(parts[0]), parts[1], parts[2], int(parts[3]), int(parts[4])))
    return frames


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def measure(lab: Lab, impl: Implementation, kind: str, target: str, rate: int,
            seconds: float, tag: str) -> dict:
    interval_cs = max(1, impl.interval_ms // 10)
    ipv6 = kind.endswith("6")
    base = kind[:-1] if ipv6 else kind
    priority = 1 if base == "valid" else HOSTILE_PRIORITY
    pair = Pair(lab, impl, tag)
    monitors: list[AddressMonitor] = []
    watchers: dict[str, subprocess.Popen] = {}
    try:
        pair.start()
        became_master = pair.wait_master()
        # Quiet: past the master's second GARP burst, so that every ARP frame counted below
        # is the flood's doing.
        time.sleep(max(0.0, became_master + GARP_QUIET_S - time.monotonic()))
        if pair.vip_holders() != (True, False):
            raise BenchError(f"{impl.name}: the pair did not stay lb1-master before the flood")
        macs = [NODES[MASTER][1], NODES[BACKUP][1]]
        watch_seconds = str(seconds + SETTLE_S + 10)
        for side in ("lb2", "cl"):
            out = open(os.path.join(lab.workdir, f"{tag}-watch-{side}.txt"), "w")
            watchers[side] = lab.spawn(side, [lab.flooder, "watch", "eth0", watch_seconds] + macs,
                                       stdout=out, stderr=subprocess.DEVNULL)
            out.close()
        monitors = [AddressMonitor(lab, node) for node in (MASTER, BACKUP)]
        time.sleep(0.3)  # watchers bound, monitors subscribed
        pids = {node: pair.pids(node) for node in (MASTER, BACKUP)}
        offsets = {node: pair.log_size(node) for node in (MASTER, BACKUP)}
        rss_before = {node: rss_kib(pids[node]) for node in (MASTER, BACKUP)}
        rx_before = lab.link_stats(target)
        drops_before = lab.raw_socket_drops(target)
        cpu_before = {node: cpu_ticks(pids[node]) for node in (MASTER, BACKUP)}
        t0 = time.time_ns()
        src = FORGED_SOURCE6 if ipv6 else FORGED_SOURCE4
        vip = VIP6 if ipv6 else VIP4
        vrid = VRID6 if ipv6 else VRID4
        flood = subprocess.run(
            ["ip", "netns", "exec", lab.ns("fl"), lab.flooder, "flood", "eth0",
             NODES[target][1], kind, src, str(vrid), str(priority), str(interval_cs), vip,
             str(rate), str(seconds)],
            capture_output=True, text=True, timeout=seconds + 30)
        t1 = time.time_ns()
        cpu_after = {node: cpu_ticks(pids[node]) for node in (MASTER, BACKUP)}
        rss_after = {node: rss_kib(pids[node]) for node in (MASTER, BACKUP)}
        rx_after = lab.link_stats(target)
        drops_after = lab.raw_socket_drops(target)
        if flood.returncode != 0:
            raise BenchError(f"flooder failed: {flood.stderr.strip()}")
        m = re.search(r"sent (\d+) frames in ([\d.]+) s", flood.stdout)
        if not m:
            raise BenchError(f"flooder said: {flood.stdout!r}")
        sent, flood_s = int(m.group(1)), float(m.group(2))
        time.sleep(SETTLE_S)
        t_end = time.time_ns()
        for node, proc in pair.procs.items():
            if proc.poll() is not None:
                raise BenchError(f"{impl.name} on {node} died during the flood "
                                 f"(status {proc.returncode}): {pair.log_tail(node)}")
        holders_after = pair.vip_holders()
        logs = {node: pair.log_since(node, offsets[node]) for node in (MASTER, BACKUP)}
    finally:
        for proc in watchers.values():
            stop_process(proc)
        for monitor in monitors:
            monitor.stop()
        pair.stop()

    wall = (t1 - t0) / 1e9
    hz = os.sysconf("SC_CLK_TCK")
    backup_side = [f for f in read_watch(os.path.join(lab.workdir, f"{tag}-watch-lb2.txt"))
                   if t0 <= f[0] <= t1]
    client_side = [f for f in read_watch(os.path.join(lab.workdir, f"{tag}-watch-cl.txt"))
                   if t0 <= f[0] <= t1]
    family_kind = "v6" if ipv6 else "v4"
    master_mac, backup_mac = NODES[MASTER][1], NODES[BACKUP][1]
    adverts = [f[0] for f in backup_side
               if f[1] == master_mac and f[2] == family_kind and f[3] == vrid
               and f[4] == NODES[MASTER][2]]
    # Gaps with the flood's edges: a master that fell silent shows up as one long gap.
    edges = [t0] + adverts + [t1]
    gaps_ms = [(b - a) / 1e6 for a, b in zip(edges, edges[1:])]
    announce = "na" if ipv6 else "arp"
    transitions = {node: len(ENTERING_RE.findall(logs[node])) for node in (MASTER, BACKUP)}
    vip_events = {m_node: len([e for e in mon.events if t0 <= e[0] <= t_end])
                  for m_node, mon in zip((MASTER, BACKUP), monitors)}
    return {
        "impl": impl.name, "kind": kind, "target": "master" if target == MASTER else "backup",
        "rate": rate, "seconds": seconds, "interval_ms": impl.interval_ms,
        "sent": sent, "sent_per_s": sent / flood_s if flood_s else 0.0,
        "delivered_per_s": (rx_after["packets"] - rx_before["packets"]) / wall,
        "socket_drops": drops_after - drops_before,
        "transitions_lb1": transitions[MASTER], "transitions_lb2": transitions[BACKUP],
        "vip_events_lb1": vip_events[MASTER], "vip_events_lb2": vip_events[BACKUP],
        "vip_after": list(holders_after),
        "adverts": len(adverts),
        "backup_adverts": len([f for f in backup_side if f[1] == backup_mac
                               and f[2] == family_kind and f[3] == vrid]),
        "max_gap_ms": max(gaps_ms), "p99_gap_ms": percentile(gaps_ms, 0.99),
        "arp_master": len([f for f in client_side if f[1] == master_mac and f[2] == announce]),
        "arp_backup": len([f for f in client_side if f[1] == backup_mac and f[2] == announce]),
        "client_adverts": len([f for f in client_side if f[1] == master_mac
                               and f[2] == family_kind and f[3] == vrid]),
        "cpu_lb1_pct": (cpu_after[MASTER] - cpu_before[MASTER]) / hz / wall * 100,
        "cpu_lb2_pct": (cpu_after[BACKUP] - cpu_before[BACKUP]) / hz / wall * 100,
        "rss_lb1_kib": [rss_before[MASTER], rss_after[MASTER]],
        "rss_lb2_kib": [rss_before[BACKUP], rss_after[BACKUP]],
        "log_lines_lb1": logs[MASTER].count("\n"), "log_lines_lb2": logs[BACKUP].count("\n"),
        "wall_s": wall,
    }


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def mib(kib: int) -> str:
    return f"{kib / 1024:.2f}"


def flood_table(results: list[dict], target: str, interval_ms: int) -> str:
    rows = [r for r in results if r["target"] == target and r["kind"] != "amplification"]
    if not rows:
        return ""
    nominal = interval_ms
    lines = [
        f"Flood at the {target} ({rows[0]['rate']:,}/s asked, {rows[0]['seconds']:g} s, "
        f"VRRPv3 {nominal} ms adverts):",
        "",
        "| kind | impl | sent/s | delivered/s | sock drops | transitions lb1/lb2 "
        "| VIP events lb1/lb2 | master adverts | max gap ms | p99 gap ms | ARP from master "
        "| CPU lb1 % | CPU lb2 % | RSS lb1 MiB before→after | RSS lb2 MiB before→after "
        "| log lines lb1/lb2 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['impl']} | {r['sent_per_s']:,.0f} | {r['delivered_per_s']:,.0f} "
            f"| {r['socket_drops']:,} | {r['transitions_lb1']}/{r['transitions_lb2']} "
            f"| {r['vip_events_lb1']}/{r['vip_events_lb2']} | {r['adverts']} "
            f"| {r['max_gap_ms']:.1f} | {r['p99_gap_ms']:.1f} | {r['arp_master']} "
            f"| {r['cpu_lb1_pct']:.1f} | {r['cpu_lb2_pct']:.1f} "
            f"| {mib(r['rss_lb1_kib'][0])}→{mib(r['rss_lb1_kib'][1])} "
            f"| {mib(r['rss_lb2_kib'][0])}→{mib(r['rss_lb2_kib'][1])} "
            f"| {r['log_lines_lb1']}/{r['log_lines_lb2']} |")
    return "\n".join(lines) + "\n"


def amplification_table(results: list[dict]) -> str:
    rows = [r for r in results if r["kind"] == "amplification"]
    if not rows:
        return ""
    r0 = rows[0]
    normal = r0["seconds"] * 1000 / r0["interval_ms"]
    lines = [
        f"Amplification: forged priority-1 adverts at the master ({r0['rate']:,}/s asked, "
        f"{r0['seconds']:g} s; {normal:.0f} regular adverts expected in that time):",
        "",
        "| impl | forged sent | sent/s | master adverts | adverts per forged | extra adverts "
        "per forged | ARP frames | ARP per forged | transitions lb1/lb2 | CPU lb1 % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        sent = max(1, r["sent"])
        extra = max(0.0, r["adverts"] - normal)
        lines.append(
            f"| {r['impl']} | {r['sent']:,} | {r['sent_per_s']:,.0f} | {r['adverts']:,} "
            f"| {r['adverts'] / sent:.4f} | {extra / sent:.4f} | {r['arp_master']:,} "
            f"| {r['arp_master'] / sent:.4f} | {r['transitions_lb1']}/{r['transitions_lb2']} "
            f"| {r['cpu_lb1_pct']:.1f} |")
    return "\n".join(lines) + "\n"


def summary_table(results: list[dict], runs: int) -> str:
    """Across runs: transitions summed, worst gap, median CPU, largest RSS growth."""
    rows = [r for r in results if r["kind"] != "amplification"]
    if runs < 2 or not rows:
        return ""
    keys: list[tuple[str, str, str]] = []
    for r in rows:
        key = (r["target"], r["kind"], r["impl"])
        if key not in keys:
            keys.append(key)
    lines = [
        f"Summary over {runs} runs (transitions and VIP events summed, worst max gap, "
        "median CPU, largest VmRSS growth of either daemon over one flood):",
        "",
        "| target | kind | impl | transitions | VIP events | worst max gap ms | median CPU lb1 % "
        "| median CPU lb2 % | RSS growth KiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target, kind, impl in keys:
        group = [r for r in rows if (r["target"], r["kind"], r["impl"]) == (target, kind, impl)]
        lines.append(
            f"| {target} | {kind} | {impl} "
            f"| {sum(r['transitions_lb1'] + r['transitions_lb2'] for r in group)} "
            f"| {sum(r['vip_events_lb1'] + r['vip_events_lb2'] for r in group)} "
            f"| {max(r['max_gap_ms'] for r in group):.1f} "
            f"| {statistics.median(r['cpu_lb1_pct'] for r in group):.1f} "
            f"| {statistics.median(r['cpu_lb2_pct'] for r in group):.1f} "
            f"| {max(max(r['rss_lb1_kib'][1] - r['rss_lb1_kib'][0], r['rss_lb2_kib'][1] - r['rss_lb2_kib'][0]) for r in group)} |")
    amp = [r for r in results if r["kind"] == "amplification"]
    if amp:
        lines += ["", "| amplification | impl | adverts per forged (median) | ARP per forged (median) "
                  "| transitions |", "|---|---|---:|---:|---:|"]
        for impl in dict.fromkeys(r["impl"] for r in amp):
            group = [r for r in amp if r["impl"] == impl]
            lines.append(
                f"| forged priority 1 | {impl} "
                f"| {statistics.median(r['adverts'] / max(1, r['sent']) for r in group):.4f} "
                f"| {statistics.median(r['arp_master'] / max(1, r['sent']) for r in group):.4f} "
                f"| {sum(r['transitions_lb1'] + r['transitions_lb2'] for r in group)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


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
    parser.add_argument("--ns-prefix", required=True)
    parser.add_argument("--flooder", required=True, help="the built benches/flooder.c")
    parser.add_argument("--vrrpd", default="target/release/vrrpd")
    parser.add_argument("--only", choices=["vrrpd", "keepalived"])
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated, of {','.join(KINDS)} (and the same ending in 6 "
                        "with --ipv6)")
    parser.add_argument("--targets", default="master,backup")
    parser.add_argument("--ipv6", action="store_true",
                        help="the pair also runs an IPv6 instance; adds the IPv6 kinds")
    parser.add_argument("--amplification-rate", type=int, default=5000)
    parser.add_argument("--amplification-seconds", type=float, default=5)
    parser.add_argument("--no-flood", action="store_true")
    parser.add_argument("--no-amplification", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", help="append each measurement as a JSON line to this file")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()

    if not 1 <= args.runs <= 20 or not 0 < args.seconds <= 600:
        parser.error("--runs 1..20, --seconds (0, 600]")
    kinds = [k for k in args.kinds.split(",") if k]
    if args.ipv6 and args.kinds == ",".join(KINDS):
        kinds += [k + "6" for k in KINDS]
    for k in kinds:
        if k.rstrip("6") not in KINDS or (k.endswith("6") and not args.ipv6):
            parser.error(f"unknown kind {k} (IPv6 kinds need --ipv6)")
    targets = [{"master": MASTER, "backup": BACKUP}[t] for t in args.targets.split(",") if t]
    vrrpd_binary = os.path.abspath(args.vrrpd)
    impls: list[Implementation] = []
    if args.only != "keepalived":
        if not os.access(vrrpd_binary, os.X_OK):
            raise BenchError(f"no vrrpd at {vrrpd_binary} (cargo build --release)")
        impls.append(Vrrpd(args.interval_ms, args.ipv6, vrrpd_binary))
    if args.only != "vrrpd":
        if not os.access(Keepalived.binary, os.X_OK):
            raise BenchError(f"no keepalived at {Keepalived.binary}")
        impls.append(Keepalived(args.interval_ms, args.ipv6))

    load = open("/proc/loadavg").read().split()[:3]
    print(f"# benches/hostile.sh {' '.join(user_arguments(sys.argv[1:]))}")
    print(f"# {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, "
          f"{os.cpu_count()} CPUs, load average at start {' '.join(load)}")
    for impl in impls:
        print(f"# {impl.name}: {impl.version()}")
    sys.stdout.flush()

    lab = Lab(args.ns_prefix, os.path.abspath(args.flooder), args.ipv6, args.keep_logs)
    all_results: list[dict] = []

    def handle_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handle_signal)
    try:
        lab.build()
        for run_index in range(args.runs):
            # Alternate which implementation goes first, so a load that drifts during a run
            # does not always fall on the same one.
            order = impls if run_index % 2 == 0 else list(reversed(impls))
            results: list[dict] = []
            plan = []
            if not args.no_flood:
                plan += [(kind, target, args.rate, args.seconds)
                         for target in targets for kind in kinds]
            if not args.no_amplification:
                plan.append(("amplification", MASTER, args.amplification_rate,
                             args.amplification_seconds))
            for kind, target, rate, seconds in plan:
                for impl in order:
                    tag = f"r{run_index + 1}-{kind}-{target}"
                    log(f"run {run_index + 1}/{args.runs}: {impl.name}, {kind} at {target}, "
                        f"{rate}/s for {seconds:g} s")
                    flood_kind = "valid" if kind == "amplification" else kind
                    result = measure(lab, impl, flood_kind, target, rate, seconds, tag)
                    result["kind"] = kind
                    result["run"] = run_index + 1
                    results.append(result)
                    if args.json:
                        with open(args.json, "a") as f:
                            f.write(json.dumps(result) + "\n")
            all_results += results
            load = open("/proc/loadavg").read().split()[:3]
            print(f"\n## Run {run_index + 1} of {args.runs} "
                  f"(load average at its end {' '.join(load)})\n")
            for target in ("master", "backup"):
                table = flood_table(results, target, args.interval_ms)
                if table:
                    print(table)
            table = amplification_table(results)
            if table:
                print(table)
            sys.stdout.flush()
        table = summary_table(all_results, args.runs)
        if table:
            print(f"## All {args.runs} runs\n")
            print(table)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        lab.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
