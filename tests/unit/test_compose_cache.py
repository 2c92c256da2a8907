"""The `docker-compose config` cache never answers for inputs it was not made from: every compose
file, the .env, env files, the environment and docker-compose's own version and file are in the
key; a project it cannot see whole is not cached; failures are not stored. A fake docker-compose
(a shell script) stands in, so these tests need none installed."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from plancheck.facts import compose_cache
from plancheck.facts.base import FactError

OUT = "services:\n  web:\n    image: nginx:{tag}\n"


@pytest.fixture
def project(tmp_path: Path) -> dict[str, object]:
    exe = tmp_path / "bin" / "docker-compose"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n[ \"$1\" = version ] && echo 9.9.9 && exit 0\nexit 1\n")
    exe.chmod(0o755)
    pdir = tmp_path / "proj"
    pdir.mkdir()
    (pdir / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${TAG}\n")
    (pdir / ".env").write_text("TAG=1\n")
    compose_cache.clear_memory()
    return {"exe": exe, "pdir": pdir, "settings": {"PLANCHECK_CACHE_DIR": str(tmp_path / "cache")},
            "env": {"TAG": "1", "PATH": "/usr/bin"}}


def _ask(p: dict[str, object], runs: list[int], env: dict[str, str] | None = None,
         run: Callable[[], str] | None = None, settings: dict[str, str] | None = None) -> str:
    pdir = p["pdir"]
    assert isinstance(pdir, Path)
    env = env if env is not None else dict(p["env"])  # type: ignore[arg-type]

    def default_run() -> str:
        runs.append(1)
        return OUT.format(tag=env.get("TAG", ""))

    cmd = [str(p["exe"]), "--project-directory", str(pdir), "-f", str(pdir / "compose.yaml"), "config"]
    return compose_cache.config_output(cmd, env, pdir, [pdir / "compose.yaml"], run or default_run,
                                       settings if settings is not None else p["settings"])  # type: ignore[arg-type]


def test_second_run_is_answered_from_disk(project: dict[str, object]) -> None:
    runs: list[int] = []
    first = _ask(project, runs)
    compose_cache.clear_memory()  # a new process
    assert _ask(project, runs) == first
    assert len(runs) == 1
    cached = list((Path(project["settings"]["PLANCHECK_CACHE_DIR"]) / "compose").glob("*.yaml"))  # type: ignore[index]
    assert len(cached) == 1 and (cached[0].stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("change", ["compose file", ".env", "variable", "new variable", "docker-compose"])
def test_any_input_change_misses(project: dict[str, object], change: str) -> None:
    runs: list[int] = []
    _ask(project, runs)
    compose_cache.clear_memory()
    env = dict(project["env"])  # type: ignore[arg-type]
    pdir, exe = project["pdir"], project["exe"]
    assert isinstance(pdir, Path) and isinstance(exe, Path)
    if change == "compose file":
        (pdir / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${TAG}\n    read_only: true\n")
    elif change == ".env":
        (pdir / ".env").write_text("TAG=2\n")
    elif change == "variable":
        env["TAG"] = "2"
    elif change == "new variable":
        env["DOCKER_HOST"] = "tcp://elsewhere:2375"
    else:  # an upgrade writes a new file (new inode, size or mtime)
        exe.write_text(exe.read_text() + "# 9.9.10\n")
        os.utime(exe, ns=(1, 1))
    _ask(project, runs, env=env)
    assert len(runs) == 2


def test_volatile_variables_do_not_split_the_cache_unless_an_input_names_them(project: dict[str, object]) -> None:
    runs: list[int] = []
    env = dict(project["env"])  # type: ignore[arg-type]
    _ask(project, runs, env={**env, "PYTEST_XDIST_WORKER": "gw0", "SHLVL": "1"})
    compose_cache.clear_memory()
    _ask(project, runs, env={**env, "PYTEST_XDIST_WORKER": "gw1", "SHLVL": "3"})
    assert len(runs) == 1
    pdir = project["pdir"]
    assert isinstance(pdir, Path)
    (pdir / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${TAG}\n    hostname: ${SHLVL}\n")
    compose_cache.clear_memory()
    _ask(project, runs, env={**env, "SHLVL": "1"})
    compose_cache.clear_memory()
    _ask(project, runs, env={**env, "SHLVL": "2"})
    assert len(runs) == 3


def test_env_file_of_a_service_is_an_input(project: dict[str, object]) -> None:
    runs: list[int] = []
    pdir = project["pdir"]
    assert isinstance(pdir, Path)
    (pdir / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    env_file: [web.env]\n")
    (pdir / "web.env").write_text("A=1\n")
    _ask(project, runs)
    compose_cache.clear_memory()
    (pdir / "web.env").write_text("A=2\n")
    _ask(project, runs)
    assert len(runs) == 2


def test_extends_from_another_file_is_never_cached(project: dict[str, object]) -> None:
    runs: list[int] = []
    pdir = project["pdir"]
    assert isinstance(pdir, Path)
    (pdir / "compose.yaml").write_text("services:\n  web:\n    extends: {file: base.yaml, service: web}\n")
    for _ in range(2):
        compose_cache.clear_memory()
        _ask(project, runs)
    assert len(runs) == 2


def test_failures_are_not_stored_and_the_cache_can_be_turned_off(project: dict[str, object]) -> None:
    runs: list[int] = []

    def fails() -> str:
        runs.append(1)
        raise FactError("docker-compose config failed")

    for _ in range(2):
        with pytest.raises(FactError):
            _ask(project, runs, run=fails)
    assert len(runs) == 2
    off = {**project["settings"], "PLANCHECK_COMPOSE_CACHE": "0"}  # type: ignore[dict-item]
    _ask(project, runs, settings=off)
    compose_cache.clear_memory()
    _ask(project, runs, settings=off)
    assert len(runs) == 4


def test_a_damaged_entry_is_replaced(project: dict[str, object]) -> None:
    runs: list[int] = []
    _ask(project, runs)
    for f in (Path(project["settings"]["PLANCHECK_CACHE_DIR"]) / "compose").glob("*.yaml"):  # type: ignore[index]
        f.write_text("services: [unterminated")
    compose_cache.clear_memory()
    assert "nginx:1" in _ask(project, runs)
    assert len(runs) == 2


def test_concurrent_readers_run_docker_compose_once(project: dict[str, object]) -> None:
    import threading
    import time

    runs: list[int] = []

    def slow() -> str:
        time.sleep(0.2)
        runs.append(1)
        return OUT.format(tag="1")

    threads = [threading.Thread(target=_ask, args=(project, runs), kwargs={"run": slow}) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1
