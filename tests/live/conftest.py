"""Break-and-detect tests on the running baseline: each test breaks one fact of the real platform,
runs the live audit, sees exactly the matching control fail, and restores the fact (in a finally
block, so a failing assertion never leaves the baseline broken)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.audit import ROOT, AuditResult, run_audit

PROJECT = "plancheck-baseline"
# The clean baseline's live audit observes and passes about 800 checks; far fewer means a source or a
# whole family stopped observing (a run that errors or skips everywhere must not be the reference).
MIN_CLEAN_PASSES = 600
DOCKER = "/usr/bin/docker"


OPT_IN = "PLANCHECK_LIVE_TESTS"  # break-and-detect changes a running platform: never by accident


def _baseline_running() -> str | None:
    """Why the live tests cannot run here, or None: they need the explicit opt-in, and the target must
    be the baseline deployed from THIS checkout (its bind mounts come from our baseline/), never
    another deployment that happens to carry the project's name."""
    if os.environ.get(OPT_IN) != "1":
        return f"break-and-detect tests change the running platform: set {OPT_IN}=1 to run them (make test does)"
    try:
        import docker

        client = docker.from_env(timeout=5)
        found = client.containers.list(filters={"label": f"com.docker.compose.project={PROJECT}"})
        sources = [m.get("Source", "") for c in found for m in c.attrs.get("Mounts") or [] if m.get("Type") == "bind"]
        client.close()
    except Exception as e:  # no engine, no socket
        return f"docker engine not reachable: {e}".splitlines()[0]
    if not found:
        return "the baseline is not deployed (make baseline-up)"
    ours = str(ROOT / "baseline") + "/"
    foreign = [s for s in sources if "/baseline/" in s and not s.startswith(ours)]
    if foreign or not any(s.startswith(ours) for s in sources):
        return f"the running {PROJECT} was not deployed from this checkout ({ours}): refusing to break it"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _baseline_running()
    for item in items:
        if "tests/live" in str(item.fspath):
            item.add_marker(pytest.mark.live)
            if why:
                item.add_marker(pytest.mark.skip(reason=why))


def container(service: str) -> str:
    return f"{PROJECT}_{service}_1"


def sh(*cmd: str, check: bool = True) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {out.stderr.strip()[:300]}")
    return out.stdout


def sql(statement: str) -> str:
    """As Debian's local superuser mysql@localhost (unix socket) inside the MariaDB container."""
    return sh(DOCKER, "exec", "-u", "mysql", container("mariadb"), "mariadb", "-N", "-e", statement)


@pytest.fixture
def baseline_audit(tmp_path: Path) -> Callable[..., AuditResult]:
    def run(*args: str) -> AuditResult:
        return run_audit(tmp_path / f"run{len(list(tmp_path.iterdir()))}", "baseline", args=list(args))
    return run


@pytest.fixture(scope="session")
def clean_baseline(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    """The live audit of the untouched baseline: the reference every break is compared with."""
    res = run_audit(tmp_path_factory.mktemp("clean"), "baseline")
    assert res.failed == set(), f"the baseline is not compliant before any break: {sorted(res.failed)}"
    assert res.errors == set(), f"the clean baseline's audit could not judge: {sorted(res.errors)}"
    passed = len(res.items("passed"))
    assert passed >= MIN_CLEAN_PASSES, f"only {passed} checks passed on the clean baseline (< {MIN_CLEAN_PASSES})"
    assert res.exit_code == 0, f"the clean baseline's audit exited {res.exit_code}"
    return res


def breaking(apply: Callable[[], Any], restore: Callable[[], Any]) -> Iterator[None]:
    apply()
    try:
        yield
    finally:
        restore()
