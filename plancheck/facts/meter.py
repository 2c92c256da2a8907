"""Per-source I/O accounting: the round trips a source made and the bytes it read, for results.json
(`sources`) and the report's source timeline.

The FactStore runs each source's reader under its own Meter (`metering`); code that talks to the
target or reads a file calls `count(...)`, which adds to the meter of the source being read in this
thread. What a round trip is depends on the source, and says what was counted:
- live: one request, query, command, handshake or connect attempt to the target; bytes are those of
  the answers (response bodies, result rows, replies) as far as the client exposes them;
- static: one file of the desired state read; bytes are its size.
Work a source hands to other threads (a pool of handshakes) is counted through `bind`, which carries
the meter of the thread that submits it. Nothing counted means 0, never an estimate.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

T = TypeVar("T")


class Meter:
    """Round trips and bytes of one source (thread-safe: a source's pool workers share it)."""

    __slots__ = ("round_trips", "bytes", "waited_s", "_lock")

    def __init__(self) -> None:
        self.round_trips = 0
        self.bytes = 0
        self.waited_s = 0.0  # deliberate sleeps (a TOTP step, a session's expiry): part of wall_s, not work
        self._lock = threading.Lock()

    def add(self, round_trips: int = 1, nbytes: int = 0) -> None:
        with self._lock:
            self.round_trips += max(0, int(round_trips))
            self.bytes += max(0, int(nbytes))

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited_s += max(0.0, float(seconds))


_local = threading.local()


def current() -> Optional[Meter]:
    """The meter of the source being read in this thread, or None (nothing is counted)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Count what this thread does into `meter` (nests: a source that reads another source in the
    same thread counts into that source's meter while it reads it)."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(meter)
    try:
        yield meter
    finally:
        stack.pop()


def count(round_trips: int = 1, nbytes: int = 0) -> None:
    """Add to the current source's meter (a no-op outside a source read)."""
    m = current()
    if m is not None:
        m.add(round_trips, nbytes)


def sleep(seconds: float, sleeper: Callable[[float], None]) -> None:
    """`sleeper(seconds)`, counted as the current source's deliberate wait."""
    m = current()
    if m is not None:
        m.add_wait(seconds)
    sleeper(seconds)


def bind(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, run under the meter current where `bind` is called (for a pool worker thread)."""
    m = current()
    if m is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> T:
        with metering(m):
            return fn(*args, **kwargs)

    return run


def _response_hook(resp: Any, *args: Any, **kwargs: Any) -> Any:
    # a streamed body (a tar archive from the docker API) is not read here: its Content-Length, if any
    if kwargs.get("stream"):
        size = resp.headers.get("Content-Length") or 0
        count(1, int(size) if str(size).isdigit() else 0)
    else:
        count(1, len(resp.content or b""))
    return resp


def count_session(session: Any) -> Any:
    """Count every response a requests Session receives (the docker SDK's APIClient is one) as one
    round trip and its body's bytes, into the meter of the thread that made the request."""
    hooks = session.hooks.setdefault("response", [])
    if _response_hook not in hooks:
        hooks.append(_response_hook)
    return session


def count_calls(obj: Any, method: str, size: Optional[Callable[[Any], int]] = None, trips: int = 1) -> Any:
    """Count each call of `obj.method` as `trips` round trips (a Redis command, a SQL query: 1), and
    `size(result)` bytes when given; the instance attribute shadows the method for this object only."""
    fn = getattr(obj, method, None)
    if fn is None or getattr(fn, "_plancheck_counted", False):
        return obj

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        count(trips, size(result) if size is not None else 0)
        return result

    counted._plancheck_counted = True  # type: ignore[attr-defined]
    try:
        setattr(obj, method, counted)
    except (AttributeError, TypeError):
        pass  # a type that forbids it (slots): not counted
    return obj


def count_pymysql(conn: Any) -> Any:
    """A PyMySQL connection just opened: the connect (one round trip), then each query (one round
    trip) and the bytes read from the server after the connect (its packet reader)."""
    count(1, 0)
    count_calls(conn, "query")
    if hasattr(conn, "_read_bytes"):
        count_calls(conn, "_read_bytes", size=len, trips=0)
    return conn


def count_redis(client: Any) -> Any:
    """A redis-py client: each command (one round trip; redis-py does not expose reply sizes)."""
    return count_calls(client, "execute_command")


class BoundPool(ThreadPoolExecutor):
    """A thread pool whose tasks count into the meter of the thread that submits each of them (a
    source's handshakes, fanned out: still that source's round trips)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "Future[T]":
        return super().submit(bind(fn), *args, **kwargs)


def count_command_output(result: Any) -> int:
    """The bytes of a testinfra command's stdout (what the host answered)."""
    out = getattr(result, "stdout_bytes", None)
    return len(out) if isinstance(out, (bytes, bytearray)) else 0


def count_host(host: Any) -> Any:
    """A testinfra host: each command run on it (one round trip: a local process or one ssh exchange)
    and the bytes of its stdout."""
    return count_calls(host, "run", size=count_command_output)
