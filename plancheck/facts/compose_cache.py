"""`docker-compose config` output, cached by the content of everything it depends on.

Starting docker-compose costs most of a static audit (about 0.6 to 1 s of CPU for a Python-based
docker-compose 1.x, twice per run: containers and backup both read the project). Its output is a
pure function of its inputs, so it is kept, keyed by a SHA-256 of:
- the docker-compose in use: its resolved path, its file identity (device, inode, size, mtime: an
  upgrade or reinstall writes a new file) and the version it reports (`version --short`, asked once
  per file identity);
- the command line (project directory, project name, files, profiles) and the working directory;
- the bytes of every compose file, of the project directory's `.env` (docker-compose reads it by
  itself) and of every `env_file` a service names (missing files are keyed as missing);
- the environment docker-compose runs with (the profile's env files over the caller's environment):
  every variable, except a few that change from one shell or worker to the next (`PWD`, `SHLVL`,
  `PYTEST_XDIST_WORKER`, ...), and even those when an input file mentions their name.
A project that pulls in files this key cannot see (`extends: {file: ...}`, a top-level `include:`)
or an input that cannot be read is never cached: docker-compose runs as before. Only successful runs
are stored, and a stored answer that does not parse is ignored and replaced. Within one process the
answer is also kept in memory, so concurrent readers run docker-compose once.

Where: `$PLANCHECK_CACHE_DIR/compose`, else `$XDG_CACHE_HOME/plancheck/compose`, else
`~/.cache/plancheck/compose` (directory 0700, files 0600: the output holds interpolated values).
`PLANCHECK_COMPOSE_CACHE=0` turns the disk cache off. Stale entries: at most `MAX_ENTRIES` are kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import yaml

from plancheck.facts import meter

SCHEME = "plancheck-compose-config/1"
MAX_ENTRIES = 64
# Variables that differ between shells, terminals or pytest workers and that docker-compose itself
# does not read: left out of the key unless an input file mentions them (then they count).
VOLATILE = frozenset({
    "_", "OLDPWD", "PWD", "SHLVL", "COLUMNS", "LINES", "TERM_SESSION_ID", "WINDOWID", "TMUX_PANE",
    "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "XDG_SESSION_ID", "INVOCATION_ID",
    "JOURNAL_STREAM", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONUNBUFFERED",
})

Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # LibYAML's parser when PyYAML was built with it
_memo: dict[str, str] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()
# SHA-256 of a YAML text -> its parsed value. The merged project of a large plan is hundreds of KB
# and parsing it is most of the containers source's time; the same text used to be parsed up to five
# times a run (the key's look at each compose file and the cached entry's check, for containers and
# for backup, then each caller's own parse). Callers treat the value as read-only: it is shared.
_parsed: dict[str, Any] = {}
_parse_locks: dict[str, threading.Lock] = {}
MAX_PARSED = 8


def load(text: str | bytes) -> Any:
    """`yaml.load` with `Loader`, once per distinct text in this process (concurrent callers of the
    same text wait for one parse). The value is shared between callers: never mutate it. A text that
    does not parse raises as yaml.load does, every time (errors are not kept)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    digest = hashlib.sha256(data).hexdigest()
    with _guard:
        lock = _parse_locks.setdefault(digest, threading.Lock())
    with lock:
        if digest in _parsed:
            return _parsed[digest]
        try:
            value = yaml.load(text, Loader=Loader)  # noqa: S506 (safe loader)
        except BaseException:
            with _guard:  # nothing kept for a text that does not parse, not even its lock
                _parse_locks.pop(digest, None)
            raise
        with _guard:
            _parsed[digest] = value
            while len(_parsed) > MAX_PARSED:  # the oldest first: a long-lived process reads many projects
                old = next(iter(_parsed))
                _parsed.pop(old, None)
                _parse_locks.pop(old, None)
        return value


def enabled(env: Mapping[str, str]) -> bool:
    return env.get("PLANCHECK_COMPOSE_CACHE", "1").strip().lower() not in ("0", "no", "off", "false")


def cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("PLANCHECK_CACHE_DIR"):
        return Path(env["PLANCHECK_CACHE_DIR"]) / "compose"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "plancheck" / "compose"


def _read(path: Path) -> Optional[bytes]:
    """A file's bytes (counted as one file read by the current source), None when it is missing;
    OSError for any other failure."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    meter.count(1, len(data))
    return data


def _referenced_files(doc: Any, project_dir: Path) -> Optional[list[Path]]:
    """The env files the services of one compose file name; None when the file pulls in another
    compose file (extends from a file, include), which the key cannot follow."""
    if not isinstance(doc, dict):
        return []
    if "include" in doc:
        return None
    out: list[Path] = []
    for svc in (doc.get("services") or {}).values() if isinstance(doc.get("services"), dict) else []:
        if not isinstance(svc, dict):
            continue
        ext = svc.get("extends")
        if isinstance(ext, dict) and ext.get("file"):
            return None
        envf = svc.get("env_file")
        for e in envf if isinstance(envf, list) else [envf] if envf else []:
            p = e.get("path") if isinstance(e, dict) else e
            if not isinstance(p, str):
                return None
            q = Path(os.path.expanduser(p))
            out.append(q if q.is_absolute() else project_dir / q)
    return out


# the keys through which a compose file names another file (what _referenced_files looks for)
_FILE_KEYS = (b"env_file", b"extends", b"include")


def _names_no_file(data: bytes) -> bool:
    """True when the text cannot name another input: none of the keys _referenced_files reads is
    spelled in it, it has no escapes (a quoted key spelled with \\x.. escapes) and no NUL bytes (so
    it is not UTF-16/32, where those keys would not show as such bytes). Saves parsing the project
    just to find nothing: on a large merged project that parse cost as much as the answer's own."""
    return b"\0" not in data and b"\\" not in data and not any(k in data for k in _FILE_KEYS)


def _version(exe: str, identity: str, directory: Path, env: Mapping[str, str]) -> Optional[str]:
    """The version docker-compose reports, asked once per file identity and kept beside the cache."""
    vfile = directory / ("version-" + hashlib.sha256(identity.encode()).hexdigest()[:32])
    try:
        text = vfile.read_text(encoding="utf-8").strip()
        if text:
            return text
    except OSError:
        pass
    try:
        out = subprocess.run([exe, "version", "--short"], capture_output=True, text=True, timeout=60,
                             check=False, env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    if out.returncode != 0 or not text or len(text) > 200:
        return None
    _store(vfile, text)
    return text


def key(cmd: Sequence[str], env: Mapping[str, str], project_dir: Path, files: Sequence[Path],
        directory: Optional[Path], extra_files: Sequence[Path] = ()) -> Optional[str]:
    """The cache key of one `docker-compose ... config` run, or None when it cannot be keyed."""
    try:
        exe = os.path.realpath(cmd[0])
        st = os.stat(exe)
        identity = json.dumps([exe, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
        texts: list[tuple[str, Optional[bytes]]] = []
        extra: list[Path] = [project_dir / ".env", *extra_files]
        for f in files:
            data = _read(f)
            if data is None:
                return None  # docker-compose says what is missing
            texts.append((str(f), data))
            refs = [] if _names_no_file(data) else _referenced_files(load(data), project_dir)
            if refs is None:
                return None
            extra += refs
        for p in dict.fromkeys(extra):
            texts.append((str(p), _read(p)))
        cwd = os.getcwd()
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return None
    if directory is None:
        version = "memory-only"
    else:
        with _guard:  # concurrent readers ask docker-compose for its version once
            version = _version(cmd[0], identity, directory, env)
    if version is None:
        return None
    blob = b"\0".join(t for _, t in texts if t)
    h = hashlib.sha256()
    h.update(json.dumps({
        "scheme": SCHEME, "exe": identity, "version": version, "cmd": list(cmd), "cwd": cwd,
        "files": [(name, hashlib.sha256(t).hexdigest() if t is not None else None) for name, t in texts],
        "env": sorted((k, v) for k, v in env.items() if k not in VOLATILE or k.encode() in blob),
    }, sort_keys=True).encode())
    return h.hexdigest()


def _store(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # mkstemp creates it 0600
    except OSError:
        pass  # a cache that cannot be written only costs time


def _prune(directory: Path) -> None:
    try:
        entries = sorted(directory.glob("*.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in entries[MAX_ENTRIES:]:
            p.unlink()
    except OSError:
        pass


def _usable(text: str) -> bool:
    try:
        data = load(text)  # kept: compose_config parses the same text next
    except (yaml.YAMLError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "services" in data


def config_output(cmd: Sequence[str], env: Mapping[str, str], project_dir: Path, files: Sequence[Path],
                  run: Callable[[], str], settings: Mapping[str, str], extra_files: Sequence[Path] = ()) -> str:
    """The stdout of `docker-compose ... config`: from memory, the disk cache, or `run()` (which
    raises FactError on failure; failures are never stored). `settings`: the caller's environment
    (PLANCHECK_COMPOSE_CACHE, PLANCHECK_CACHE_DIR); `extra_files`: other inputs (the profile's env
    files, whose values are in `env` already)."""
    directory: Optional[Path] = None
    if enabled(settings):
        try:
            directory = cache_dir(settings)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except (OSError, RuntimeError):  # no home, a read-only one: this run keeps answers in memory only
            directory = None
    k = key(cmd, env, project_dir, files, directory, extra_files)
    if k is None:
        return run()
    with _guard:
        lock = _locks.setdefault(k, threading.Lock())
    with lock:  # a second reader of the same project waits for the first one's answer
        if k in _memo:
            return _memo[k]
        path = directory / f"{k}.yaml" if directory is not None else None
        text: Optional[str] = None
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            if text is not None and not _usable(text):
                text = None
        if text is None:
            text = run()
            if path is not None:
                _store(path, text)
                _prune(path.parent)
        _memo[k] = text
        while len(_memo) > MAX_ENTRIES:  # a long-lived process (the suite's own tests) reads many projects
            _memo.pop(next(iter(_memo)), None)
        return text


def clear_memory() -> None:
    """Forget the in-process answers (tests)."""
    with _guard:
        _memo.clear()
        _locks.clear()
        _parsed.clear()
        _parse_locks.clear()
