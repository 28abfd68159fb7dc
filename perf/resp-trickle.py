#!/usr/bin/env python3
"""Issue 16's trickled-command scenario against a RESP server on this machine, measured by the server's CPU time.

Each connection sends "*1048576", ARGS one-byte bulk arguments at once, then one more argument every INTERVAL ms for
SECONDS. The script reports the server process's CPU seconds (user + system, from /proc/<pid>/stat) over the trickle,
and the round trip of a PING sent on a fresh connection half way through it. Nothing but 127.0.0.1 is contacted;
every loop is bounded in count and time.

    perf/resp-trickle.py --port 6380 --pid <server pid> [--connections 1] [--args 500000] [--seconds 20]
"""
import argparse
import os
import socket
import time

ARGUMENT = b"$1\r\na\r\n"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping_seconds(port, timeout):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as ping:
        ping.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = ping.recv(64)
            if not chunk:
                raise RuntimeError("the server closed the PING connection")
            reply += chunk
    if reply != b"+PONG\r\n":
        raise RuntimeError(f"unexpected PING reply {reply!r}")
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--args", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=5, help="milliseconds between trickled arguments")
    options = parser.parse_args()

    connections = []
    for _ in range(options.connections):
        connection = socket.create_connection(("127.0.0.1", options.port), timeout=60)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sendall(b"*1048576\r\n" + ARGUMENT * options.args)
        connections.append(connection)

    # Let the server take in the buffered arguments before the trickle is measured: wait until its CPU time stops
    # rising (at most 120 s).
    previous = cpu_seconds(options.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(1)
        current = cpu_seconds(options.pid)
        if current - previous < 0.05:
            break
        previous = current
    settled = cpu_seconds(options.pid)

    start = time.monotonic()
    cpu_start = cpu_seconds(options.pid)
    sent = 0
    ping = None
    while time.monotonic() - start < options.seconds:
        for connection in connections:
            connection.sendall(ARGUMENT)
        sent += 1
        if ping is None and time.monotonic() - start >= options.seconds / 2:
            ping = ping_seconds(options.port, timeout=60)
        time.sleep(options.interval / 1000)
    wall = time.monotonic() - start
    cpu = cpu_seconds(options.pid) - cpu_start

    for connection in connections:
        connection.close()
    print(f"connections={options.connections} buffered_args={options.args} trickled_args={sent} per connection "
          f"wall_s={wall:.1f} server_cpu_s={cpu:.2f} cpu_per_wall={cpu / wall:.3f} "
          f"ping_ms={ping * 1000:.1f} setup_cpu_s={settled:.2f}")


if __name__ == "__main__":
    main()
