#!/usr/bin/env python3
"""The floor under sustained load: how late the kernel delivers a packet between two nodes
of the lab, whatever daemon would send or receive it.

benches/load.py runs this beside the keepalived and vrrpd pairs, in a lab of its own under
the same stress-ng. A sender on lb1 sends one UDP datagram per advert interval, a receiver
on lb2 reads them; both run in the realtime class (SCHED_FIFO) with their memory locked,
so they are what an ideal VRRP daemon would be: never late to send, never late to wake.
What is left is the kernel's delivery (the veth and bridge path runs in softirq context,
handed to the normal-priority `ksoftirqd` when softirq work piles up). Every gap between
two arrivals longer than the Master_Down_Interval is a takeover that no daemon could have
avoided.

    ip netns exec NS python3 delivery_probe.py send ADDRESS PORT INTERVAL_MS SECONDS
    ip netns exec NS python3 delivery_probe.py receive PORT INTERVAL_MS SECONDS THRESHOLD_MS

The receiver prints one JSON object: datagrams, lost, the longest gap between arrivals,
the gaps over THRESHOLD_MS, how late the packet that ended the longest gap was (from when
it was due to its send, from its send to the kernel's receive timestamp, and from that to
the receiver's wake-up), and the machine's steal time over the run.
Python 3 standard library only.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import sys
import time

MCL_CURRENT, MCL_FUTURE = 1, 2
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# Sequence number, when it was due, when it was sent (CLOCK_MONOTONIC ns).
PAYLOAD = struct.Struct("!QQQ")


def become_ideal(priority: int = 10) -> list[str]:
    """SCHED_FIFO and locked memory; returns what could not be had (reported, not fatal)."""
    missing = []
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        missing.append(f"realtime: {error}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        missing.append(f"mlockall: {os.strerror(ctypes.get_errno())}")
    return missing


def steal_ticks() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...
    return int(fields[8]) if len(fields) > 8 else 0


def send(address: str, port: int, interval_ms: int, seconds: float) -> int:
    become_ideal()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval_ns = interval_ms * 1_000_000
    start = time.monotonic_ns()
    deadline = start + int(seconds * 1e9)
    sequence = 0
    next_send = start
    while next_send < deadline:
        now = time.monotonic_ns()
        if next_send > now:
            time.sleep((next_send - now) / 1e9)
        sock.sendto(PAYLOAD.pack(sequence, next_send, time.monotonic_ns()), (address, port))
        sequence += 1
        # On schedule, like an advert timer: a late send does not shift the ones after it.
        next_send += interval_ns
    return 0


def receive(port: int, interval_ms: int, seconds: float, threshold_ms: float) -> int:
    missing = become_ideal()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.5)
    # Kernel timestamps are CLOCK_REALTIME; the payload's are CLOCK_MONOTONIC (one clock
    # across namespaces). The offset between them is taken once: the run is minutes long.
    realtime_minus_monotonic = time.time_ns() - time.monotonic_ns()
    steal_before = steal_ticks()
    deadline = time.monotonic() + seconds
    datagrams, highest, previous = 0, -1, None
    gaps_over, longest, worst = [], 0.0, {}
    while time.monotonic() < deadline:
        try:
            data, ancillary, _, _ = sock.recvmsg(64, socket.CMSG_SPACE(16))
        except socket.timeout:
            continue
        woke = time.monotonic_ns()
        if len(data) != PAYLOAD.size:
            continue
        sequence, due, sent = PAYLOAD.unpack(data)
        kernel = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                kernel = sec * 1_000_000_000 + nsec - realtime_minus_monotonic
        datagrams += 1
        highest = max(highest, sequence)
        if previous is not None:
            gap_ms = (woke - previous) / 1e6
            if gap_ms > threshold_ms:
                gaps_over.append(round(gap_ms, 1))
            if gap_ms > longest:
                longest = gap_ms
                worst = {
                    "gap_ms": round(gap_ms, 2),
                    # The realtime sender itself late: its CPU was not running it (on a
                    # virtual machine, the hypervisor's steal time).
                    "due_to_sent_ms": round((sent - due) / 1e6, 2),
                    # The kernel stamps a packet as it queues it on lb2's eth0 (the last
                    # veth hop), so the first part holds the send and the bridge hop, the
                    # second the last hop's queue and the receiver's wake-up.
                    "sent_to_queued_ms": None if kernel is None else round((kernel - sent) / 1e6, 2),
                    "queued_to_awake_ms": None if kernel is None else round((woke - kernel) / 1e6, 2),
                }
        previous = woke
    print(json.dumps({
        "datagrams": datagrams,
        "lost": max(0, highest + 1 - datagrams),
        "interval_ms": interval_ms,
        "threshold_ms": threshold_ms,
        "longest_gap_ms": round(longest, 2),
        "gaps_over_threshold": len(gaps_over),
        "gaps_over_threshold_ms": gaps_over[:50],
        "worst": worst,
        # The machine's steal time over the run (all CPUs, USER_HZ ticks = 10 ms each):
        # time the hypervisor ran something else while a virtual CPU had work.
        "steal_ticks": steal_ticks() - steal_before,
        "not_ideal": missing,
    }))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[0] == "send":
        return send(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    if len(argv) == 5 and argv[0] == "receive":
        return receive(int(argv[1]), int(argv[2]), float(argv[3]), float(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
