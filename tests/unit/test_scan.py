"""The connect scanner keeps its three answers (open / closed / filtered) when the ports outnumber its
concurrency window (the window refills as answers come in) and when many answers arrive at once.
Only 127.0.0.1 and ports this test binds itself: listeners (open), bound sockets that do not listen
(closed: the kernel answers RST) and a listener whose accept queue is full (filtered: the kernel drops
the SYN, nothing answers in time)."""
from __future__ import annotations

import errno
import select
import socket
import time
from typing import Iterator

import pytest

from plancheck.scan import scan, scan_split


@pytest.fixture
def loopback_ports() -> Iterator[tuple[list[int], list[int]]]:
    listeners, bound = [], []
    try:
        for _ in range(30):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(64)
            listeners.append(s)
        for _ in range(400):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            bound.append(s)
        yield [s.getsockname()[1] for s in listeners], [s.getsockname()[1] for s in bound]
    finally:
        for s in listeners + bound:
            s.close()


@pytest.mark.parametrize("concurrency", [7, 64, 16000])
def test_open_and_closed_with_a_window_smaller_than_the_ports(loopback_ports: tuple[list[int], list[int]],
                                                              concurrency: int) -> None:
    open_ports, closed_ports = loopback_ports
    targets = [("127.0.0.1", p) for p in open_ports + closed_ports]
    out = scan(targets, timeout=2.0, concurrency=concurrency)
    assert out["open"] == [f"127.0.0.1:{p}" for p in sorted(open_ports)]
    assert (out["closed"], out["filtered"], out["errors"], out["scanned"]) == (len(closed_ports), 0, 0, len(targets))


def test_workers_sharing_the_ports_answer_as_one_loop(loopback_ports: tuple[list[int], list[int]]) -> None:
    open_ports, closed_ports = loopback_ports
    targets = [("127.0.0.1", p) for p in open_ports + closed_ports]
    out = scan_split(targets, timeout=2.0, concurrency=50, workers=2)
    assert out["workers"] == 2
    assert out["open"] == [f"127.0.0.1:{p}" for p in sorted(open_ports)]
    assert (out["closed"], out["filtered"], out["errors"], out["scanned"]) == (len(closed_ports), 0, 0, len(targets))


def _full_listener() -> tuple[socket.socket, list[socket.socket], int]:
    """A listener whose accept queue is full: a further SYN is dropped (no answer)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.2)
    return srv, fillers, port


def _hangs(port: int, wait: float = 0.3) -> bool:
    c = socket.socket()
    c.setblocking(False)
    try:
        rc = c.connect_ex(("127.0.0.1", port))
        if rc != errno.EINPROGRESS:
            return False
        _, w, _ = select.select([], [c], [], wait)
        return not w
    finally:
        c.close()


def test_a_port_that_never_answers_is_filtered_not_closed() -> None:
    srv, fillers, port = _full_listener()
    try:
        if not _hangs(port):
            pytest.skip("this kernel answers a SYN to a full accept queue: no silent port on loopback here")
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        out = scan([("127.0.0.1", port), ("127.0.0.1", closed.getsockname()[1])], timeout=0.3, concurrency=2)
        closed.close()
    finally:
        for c in fillers:
            c.close()
        srv.close()
    assert out["open"] == [] and out["closed"] == 1 and out["filtered"] == 1
    assert out["duration_s"] >= 0.25  # it waited its timeout for the silent port


def _einval_address() -> str:
    """A link-local address without its interface: the kernel refuses the connect itself (EINVAL),
    so the probe never leaves this host."""
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 sockets on this host")
    return "fe80::1"


def test_a_probe_that_never_left_is_an_error_not_filtered() -> None:
    from plancheck.scan import run_scanner

    addr = _einval_address()
    out = scan([(addr, 80)], timeout=0.3, concurrency=2)
    assert (out["filtered"], out["closed"], out["errors"], out["failed"]) == (0, 0, 1, {"EINVAL": 1})
    with pytest.raises(RuntimeError, match=r"1 of 1 probes failed before any answer \(EINVAL x1\)"):
        run_scanner([], ["--targets", f"[{addr}]:80", "--timeout", "0.3"], timeout=30)


def test_probes_from_inside_a_network_namespace(loopback_ports: tuple[list[int], list[int]]) -> None:
    """scan_in_netns joins a namespace in a thread of its own (here this process's own namespace,
    so the loopback listeners answer); a process that does not exist is one clear error."""
    import os

    from plancheck.scan import scan_in_netns

    open_ports, closed_ports = loopback_ports
    targets = [("127.0.0.1", p) for p in open_ports + closed_ports[:20]]
    from plancheck.facts import meter

    m = meter.Meter()
    try:
        with meter.metering(m):
            out = scan_in_netns(f"/proc/{os.getpid()}/ns/net", targets, timeout=2.0)
    except RuntimeError as e:
        if "Operation not permitted" in str(e):
            pytest.skip("joining a network namespace needs CAP_SYS_ADMIN")
        raise
    assert out["open"] == [f"127.0.0.1:{p}" for p in sorted(open_ports)] and out["closed"] == 20
    assert m.round_trips == len(targets)  # one per connect, counted for the calling source
    with pytest.raises(RuntimeError, match=r"network namespace /proc/999999999/ns/net: cannot open it"):
        scan_in_netns("/proc/999999999/ns/net", targets, timeout=0.5)
