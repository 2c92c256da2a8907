"""Gathering: every fact source the selected checks need is read concurrently before the first
check, under one run deadline, so a run costs its slowest probe rather than the sum of them.

Each fixture that hands a source to checks declares it (`@provides("mariadb")`); the sources a run
needs are those of the fixtures in the selected items' closures (`item.fixturenames`), so `-k`/`-m`
selections gather only what they use. Sources that read other sources (exposure, segmentation and
`service:NAME` endpoints read `containers`) wait for them in the FactStore, which gathers each source
once however many threads ask. The readers are blocking I/O (sockets, subprocesses, the docker API):
one daemon thread per source, so a reader that hangs past the deadline never holds up the exit.
A source still reading at the deadline becomes a FactError for every check that needs it.

`PLANCHECK_PREFETCH=0` turns prefetching off: sources are then read lazily, one after the other, the
first time a check needs them (same verdicts, see tests/unit/test_gathering.py).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable, Mapping, TypeVar

from plancheck.facts.base import SOURCES, FactStore
from plancheck.fleet import PER_HOST_SOURCES, host_of, scoped, split

F = TypeVar("F", bound=Callable[..., Any])

# fixture name -> the fact source it hands to checks (filled by @provides where the fixtures live)
FIXTURE_SOURCES: dict[str, str] = {}


def provides(source: str) -> Callable[[F], F]:
    """Declare the fact source a fixture hands to checks (apply below @pytest.fixture)."""

    def mark(fn: F) -> F:
        FIXTURE_SOURCES[fn.__name__] = source
        return fn

    return mark


def enabled(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("PLANCHECK_PREFETCH", "1").strip() not in ("0", "no", "off", "false")


def _item_sources(item: Any) -> Iterable[str]:
    """The sources of the fixtures in a test item's closure."""
    return (FIXTURE_SOURCES[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_SOURCES)


def needed(items: Iterable[Any]) -> list[str]:
    """The sources the given test items use, in registry order."""
    names: set[str] = set()
    for item in items:
        host = host_of(item)  # a per-host check of a fleet reads its host's reading of the source
        for source in _item_sources(item):
            names.add(scoped(source, host) if host and source in PER_HOST_SOURCES else source)
    return [n for n in SOURCES if n in names] + sorted(n for n in names if n not in SOURCES)


def prefetch(store: FactStore, names: list[str], deadline_s: float | None = None) -> None:
    """Gather `names` concurrently; return when all answered or their deadline passed (those still
    reading then, and any source they were waiting for, become deadline errors)."""
    watchdog = start(store, names, deadline_s)
    if watchdog is not None:
        watchdog.join()


def start(store: FactStore, names: list[str], deadline_s: float | None = None) -> threading.Thread | None:
    """Start gathering `names` concurrently and return at once: the run's checks read each source
    from the store, waiting for it only if it is still being read. A watchdog thread (returned;
    None when there is nothing to gather) turns every source still reading at its deadline, and any
    source it was waiting for, into a deadline error, which wakes whoever waits for it."""
    if not names:
        return None
    run_deadline = float(deadline_s if deadline_s is not None else store.ctx.profile.target.run_deadline_s)
    t0 = time.monotonic()
    threads: list[tuple[str, threading.Thread, float]] = []
    for name in names:
        own = SOURCES[split(name)[0]].deadline_s(store.ctx)
        budget = max(run_deadline, own) if own else run_deadline
        t = threading.Thread(target=_gather_quietly, args=(store, name), daemon=True,
                             name=f"plancheck-gather-{name}")
        t.start()
        threads.append((name, t, budget))

    def watch() -> None:
        late: list[tuple[str, float]] = []
        for name, t, budget in sorted(threads, key=lambda x: x[2]):
            t.join(max(0.0, t0 + budget - time.monotonic()))
            if t.is_alive():
                late.append((name, budget))
        for name, budget in late:
            store.expire([name], budget)
        if late:
            # what the late ones were waiting for (a dependency no check named) is late too
            store.expire(store.running(), max(b for _, b in late))

    watchdog = threading.Thread(target=watch, daemon=True, name="plancheck-gather-deadline")
    watchdog.start()
    return watchdog


def spawn_safely_from_threads() -> bool:
    """Make every subprocess this process starts from now on use fork(), not vfork()/posix_spawn();
    False where Python offers no switch (then checks must not run while sources are gathered).

    Why: pytest rewrites PYTEST_CURRENT_TEST in os.environ around every check (setenv/unsetenv in
    the main thread). Once checks run while sources are still being gathered, other threads start
    processes (docker-compose, nsenter, testinfra's shell) at the same time. A vfork/posix_spawn
    child shares the parent's memory and, since CPython releases the GIL around vfork, can execve
    the environment while the main thread is rewriting it: seen here as `[Errno 14] Bad address:
    '/bin/sh'` from the exposure source, once in a few dozen runs. A forked child has its own copy.
    Process start costs a page-table copy more (about a millisecond; a run starts a few dozen)."""
    import subprocess

    if not hasattr(subprocess, "_USE_VFORK"):
        return False
    subprocess._USE_VFORK = False  # type: ignore[attr-defined]
    if hasattr(subprocess, "_USE_POSIX_SPAWN"):
        subprocess._USE_POSIX_SPAWN = False  # type: ignore[attr-defined]
    return True


def run_order(items: list[Any]) -> list[Any]:
    """The items with the checks on the slowest sources last (by their sources' `live_cost`, stable
    otherwise): gathered concurrently, the quick sources answer first, and their checks run while
    the port scans are still going, so the run ends about when its slowest source does."""
    def cost(item: Any) -> int:
        bases = (split(s)[0] for s in _item_sources(item))
        return max((SOURCES[b].live_cost for b in bases if b in SOURCES), default=0)

    return sorted(items, key=cost)


def _gather_quietly(store: FactStore, name: str) -> None:
    try:
        store.get(name)
    except BaseException:  # the error is cached in the store; checks report it
        pass


def merge(timings: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per source, the slowest record among several processes (pytest-xdist workers each gather)."""
    out: dict[str, dict[str, Any]] = {}
    for one in timings:
        for name, rec in (one or {}).items():
            if name not in out or rec.get("wall_s", 0) > out[name].get("wall_s", 0):
                out[name] = dict(rec)
    return {n: out[n] for n in sorted(out, key=lambda n: (out[n].get("start_s", 0), n))}
