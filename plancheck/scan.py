"""A fast TCP connect scanner, run as a subprocess inside a vantage point's network namespace
(`ip netns exec pc-ext python -m plancheck.scan ...`), or in-process from a container's (`scan_in_netns`).

One epoll loop, thousands of non-blocking connects in flight, a bounded timeout per port: a port
is `open` when the connect completes, `closed` on a RST, `filtered` when nothing answers in time.
JSON on stdout. Only the exact addresses given are scanned (never a subnet: a CIDR is refused).

    python -m plancheck.scan --address 203.0.113.1 --ports 1-65535 --timeout 0.5
    python -m plancheck.scan --targets 172.18.0.2:3306,172.19.0.4:8443 --timeout 0.5
"""
from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import resource
import select
import socket
import sys
import time
from collections import Counter, deque
from typing import Iterable


def parse_ports(spec: str) -> list[int]:
    ports: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= b <= 65535):
            raise ValueError(f"bad port range {part!r}")
        ports.update(range(a, b + 1))
    return sorted(ports)


def exact_address(text: str) -> str:
    """One host address; a network (203.0.113.0/24) or a name is refused."""
    if "/" in text:
        raise ValueError(f"{text}: a single address is required, not a network")
    return str(ipaddress.ip_address(text))


# answers that say the target is not reachable from here (a filtered port, for an exposure scan);
# any other error means the probe itself failed, and the port was not judged
UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT)


def _address_port(target: str) -> tuple[str, int]:
    """Sort key of an `address:port` answer: by address, then by port as a number."""
    host, _, port = target.rpartition(":")
    return host, int(port)


def _raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard if hard != resource.RLIM_INFINITY else want + 64, want + 64)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def scan(targets: Iterable[tuple[str, int]], timeout: float = 0.5, concurrency: int = 16000) -> dict[str, object]:
    """Connect-scan (address, port) pairs; returns {"open": [...], "closed": n, "filtered": n, ...}."""
    pending = deque(targets)
    total = len(pending)
    limit = _raise_fd_limit(concurrency)
    concurrency = max(1, min(concurrency, limit - 64))
    ep = select.epoll()
    inflight: dict[int, tuple[socket.socket, str, int]] = {}
    deadlines: deque[tuple[float, int, socket.socket]] = deque()  # FIFO: one timeout for every probe
    open_: list[str] = []
    closed = filtered = 0
    failed: Counter[str] = Counter()  # errno name -> probes that got no answer at all
    t0 = time.monotonic()
    nonblock = getattr(socket, "SOCK_NONBLOCK", 0)
    stream = socket.SOCK_STREAM | nonblock
    # only an established connection would leave a TIME_WAIT behind: those (few) are closed with a RST.
    # Refused and unanswered connects leave nothing, so they save the setsockopt call.
    linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"
    # up to 4096 answers per poll, not 1023 (a larger buffer would be allocated by mmap on every poll)
    maxevents = min(max(1024, concurrency), 4096)

    def finish(fd: int) -> None:
        sock, _, _ = inflight.pop(fd)
        sock.close()  # closing the only descriptor of the socket also takes it out of the epoll set

    try:
        while pending or inflight:
            while pending and len(inflight) < concurrency:
                host, port = pending.popleft()
                fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                s = socket.socket(fam, stream)  # non-blocking from the start (one syscall less per port)
                if not nonblock:
                    s.setblocking(False)
                rc = s.connect_ex((host, port))
                if rc == 0:
                    open_.append(f"{host}:{port}")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    s.close()
                    continue
                if rc != errno.EINPROGRESS:
                    if rc == errno.ECONNREFUSED:
                        closed += 1
                    elif rc in UNREACHABLE:
                        filtered += 1  # no route, unreachable: nothing answers from here
                    else:  # the probe never left (no local port, no buffer): the port is not judged
                        failed[errno.errorcode.get(rc, str(rc))] += 1
                    s.close()
                    continue
                fd = s.fileno()
                inflight[fd] = (s, host, port)
                ep.register(fd, select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)
                deadlines.append((time.monotonic() + timeout, fd, s))
            now = time.monotonic()
            while deadlines and (deadlines[0][1] not in inflight or inflight[deadlines[0][1]][0] is not deadlines[0][2]):
                deadlines.popleft()  # answered already (or fd reused by a newer probe)
            wait = max(0.0, deadlines[0][0] - now) if deadlines else 0.05
            for fd, _ in ep.poll(min(wait, 0.05) if pending else wait, maxevents):
                if fd not in inflight:
                    continue
                sock, host, port = inflight[fd]
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    open_.append(f"{host}:{port}")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                elif err == errno.ECONNREFUSED:
                    closed += 1
                elif err in UNREACHABLE:
                    filtered += 1
                else:
                    failed[errno.errorcode.get(err, str(err))] += 1
                finish(fd)
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                _, fd, sock = deadlines.popleft()
                if fd in inflight and inflight[fd][0] is sock:
                    filtered += 1
                    finish(fd)
    finally:
        for fd in list(inflight):
            finish(fd)
        ep.close()
    return {"open": sorted(open_, key=_address_port),
            "scanned": total, "closed": closed, "filtered": filtered, "errors": sum(failed.values()),
            "failed": dict(failed),
            "timeout_s": timeout, "concurrency": concurrency, "duration_s": round(time.monotonic() - t0, 3)}


def scan_split(targets: list[tuple[str, int]], timeout: float = 0.5, concurrency: int = 16000,
               workers: int = 1) -> dict[str, object]:
    """`scan` across `workers` forked processes, each with its share of the targets (interleaved).

    The kernel's side of a connect (socket, SYN through netfilter, close) is most of a scan's CPU, so
    a second process on a second core halves it; each process also brings its own descriptor limit,
    so more probes wait out their timeout together. The answers are merged as if one loop ran."""
    workers = max(1, min(workers, len(targets) // 128))  # a short list is not worth a fork
    if workers == 1:
        return scan(targets, timeout, concurrency)
    t0 = time.monotonic()
    children: list[tuple[int, int]] = []
    for w in range(workers):
        r, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: scan its share, write JSON, leave without running the parent's cleanup
            code = 0
            try:
                os.close(r)
                out = scan(targets[w::workers], timeout, concurrency)
                with os.fdopen(wfd, "w") as f:
                    json.dump(out, f)
            except BaseException:  # noqa: BLE001 - the parent reports a worker that wrote nothing
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        children.append((pid, r))
    parts: list[dict[str, object]] = []
    silent = 0
    for pid, r in children:
        with os.fdopen(r) as f:
            text = f.read()
        os.waitpid(pid, 0)
        try:
            parts.append(json.loads(text))
        except ValueError:
            silent += 1
    if silent:
        raise RuntimeError(f"{silent} of {workers} scan workers died without an answer")
    open_ = sorted((x for p in parts for x in p["open"]), key=_address_port)  # type: ignore[union-attr]
    total = {k: sum(int(p[k]) for p in parts) for k in ("closed", "filtered", "errors")}  # type: ignore[call-overload]
    failed: Counter[str] = Counter()
    for part in parts:
        failed.update(part.get("failed") or {})  # type: ignore[arg-type]
    return {"open": open_, "scanned": len(targets), **total, "failed": dict(failed), "timeout_s": timeout,
            "concurrency": sum(int(p["concurrency"]) for p in parts), "workers": workers,  # type: ignore[call-overload]
            "duration_s": round(time.monotonic() - t0, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m plancheck.scan", description=__doc__.splitlines()[0])
    ap.add_argument("--address", action="append", default=[], help="an exact address to scan (repeatable)")
    ap.add_argument("--ports", default="1-65535", help="ports for --address, e.g. 1-65535 or 22,443,8443")
    ap.add_argument("--targets", default="", help="explicit address:port pairs, comma separated")
    ap.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for each connect")
    ap.add_argument("--concurrency", type=int, default=16000, help="probes in flight per worker")
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4),
                    help="processes sharing the targets (default: one per core, at most 4)")
    a = ap.parse_args(argv)
    try:
        pairs = [(exact_address(addr), p) for addr in a.address for p in parse_ports(a.ports)]
        for t in filter(None, (x.strip() for x in a.targets.split(","))):
            host, _, port = t.rpartition(":")
            pairs.append((exact_address(host.strip("[]")), int(port)))
    except ValueError as e:
        print(json.dumps({"error": str(e)}))
        return 2
    try:
        out = scan_split(pairs, a.timeout, a.concurrency, a.workers)
    except RuntimeError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    out["addresses"] = a.address
    out["netns"] = _netns_name()
    print(json.dumps(out))
    return 0


def _netns_name() -> str:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())


def run_scanner(prefix: list[str], args: list[str], timeout: float) -> dict[str, object]:
    """Run this scanner as a subprocess behind `prefix` (`ip netns exec NS`, `nsenter -t PID -n`) and
    return its JSON; one-line RuntimeError naming the command and the cause otherwise."""
    import subprocess
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    cmd = prefix + [sys.executable, "-m", "plancheck.scan"] + args
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(prefix)}: scanner timed out after {timeout:g} s") from None
    except OSError as e:
        raise RuntimeError(f"{' '.join(prefix)}: cannot start the scanner: {e}") from None
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        err = " ".join((out.stderr or out.stdout).split())[:300]
        raise RuntimeError(f"{' '.join(prefix)}: scanner failed (rc {out.returncode}): {err}") from None
    if "error" in data:
        raise RuntimeError(f"{' '.join(prefix)}: {data['error']}")
    return _judged(data, " ".join(prefix))


def _judged(data: dict[str, object], where: str) -> dict[str, object]:
    """A scan's answers, counted as round trips; RuntimeError when a probe failed before any answer
    (its port is unjudged: never read it as filtered)."""
    if data.get("errors"):
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted((data.get("failed") or {}).items()))  # type: ignore[union-attr]
        raise RuntimeError(f"{where}: {data['errors']} of {data.get('scanned')} probes failed "
                           f"before any answer ({kinds})")
    from plancheck.facts import meter

    meter.count(int(data.get("scanned") or 0), 0)  # type: ignore[call-overload]  (one round trip per connect)
    return data


CLONE_NEWNET = 0x40000000


def scan_in_netns(netns: str, targets: list[tuple[str, int]], timeout: float, concurrency: int = 1024,
                  deadline: float = 60.0) -> dict[str, object]:
    """`scan` from inside the network namespace at path `netns` (a container's `/proc/PID/ns/net`, a
    named one's `/run/netns/NAME`), without a process per namespace: a fresh thread joins it with
    setns(2), which moves only the calling thread, probes, and ends; no other thread ever runs in it.
    One-line RuntimeError on failure (no such namespace, not permitted, a probe that failed)."""
    import ctypes
    import threading

    where = f"network namespace {netns}"
    box: dict[str, object] = {}

    def probe() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            box["error"] = f"cannot open it: {e.strerror or e}"
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                box["error"] = f"cannot join it: {os.strerror(ctypes.get_errno())}"
                return
        finally:
            os.close(fd)
        try:
            box["out"] = scan(targets, timeout, concurrency)
        except Exception as e:  # noqa: BLE001 - reported to the caller as one line
            box["error"] = f"scan failed: {type(e).__name__}: {e}"

    t = threading.Thread(target=probe, name=f"netns-scan-{os.path.basename(netns)}", daemon=True)
    t.start()
    t.join(deadline)
    if t.is_alive():
        raise RuntimeError(f"{where}: the probes did not finish within {deadline:g} s")
    if "error" in box:
        raise RuntimeError(f"{where}: {box['error']}")
    return _judged(box["out"], where)  # type: ignore[arg-type]
