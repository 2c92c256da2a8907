"""Break-and-detect for the violations a plain audit must see without help (no -k, no restore drill):
a container that is not part of the deployment on a zone network, audited event classes reduced below
the profile's, and a stored backup payload damaged after it was written. Each break makes exactly its
controls fail in the whole live audit, and the audit passes again once the fact is restored."""
from __future__ import annotations

import contextlib
import subprocess
from typing import Any, Callable

import pytest

from tests.live.conftest import DOCKER, PROJECT, breaking, container, sh, sql

INTRUDER = "plancheck-intruder"
AUDITED = "CONNECT,QUERY_DDL,QUERY_DCL"  # the baseline's server_audit_events (config/mariadb/my.cnf)


def _image_of(service: str) -> str:
    return sh(DOCKER, "inspect", "-f", "{{.Config.Image}}", container(service)).strip()


def _start_intruder() -> None:
    # a container started by hand, with none of the project's labels, on the database zone's network
    sh(DOCKER, "run", "-d", "--name", INTRUDER, "--network", f"{PROJECT}_data", "--memory", "64m",
       "--entrypoint", "sleep", _image_of("backup"), "600")


def _remove_intruder() -> None:
    subprocess.run([DOCKER, "rm", "-f", INTRUDER], capture_output=True, timeout=60)


def _newest_payload() -> str:
    out = sh(DOCKER, "exec", "-u", "mysql", container("backup"), "sh", "-c",
             "ls -1d /backups/chains/*/* | sort | tail -n 1")
    return out.strip() + "/backup.mbstream.enc"


def _flip_byte(path: str) -> None:
    """XOR one byte in the middle of the encrypted payload, in place: applying it twice restores it."""
    code = ("import os,sys; p=sys.argv[1]; f=open(p,'r+b'); n=os.path.getsize(p)//2; f.seek(n); b=f.read(1); "
            "f.seek(n); f.write(bytes([b[0]^0xFF])); f.close()")
    sh(DOCKER, "exec", "-u", "mysql", container("backup"), "python3", "-c", code, path)


PAYLOAD: dict[str, str] = {}


def _damage() -> None:
    PAYLOAD["path"] = _newest_payload()
    _flip_byte(PAYLOAD["path"])


def _repair() -> None:
    if PAYLOAD.get("path"):
        _flip_byte(PAYLOAD.pop("path"))


BREAKS: dict[str, tuple[Callable[[], Any], Callable[[], Any], set[str]]] = {
    "container-on-zone-network": (_start_intruder, _remove_intruder, {"CT-027", "CT-028"}),
    "audit-events-reduced": (lambda: sql("SET GLOBAL server_audit_events='CONNECT'"),
                             lambda: sql(f"SET GLOBAL server_audit_events='{AUDITED}'"), {"DB-009"}),
    "backup-payload-damaged": (_damage, _repair, {"BK-011"}),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.breaks(c) for c in sorted(b[2])], id=n)
                                  for n, b in BREAKS.items()])
def test_plain_audit_detects(name: str, baseline_audit, clean_baseline) -> None:  # type: ignore[no-untyped-def]
    apply, restore, expected = BREAKS[name]
    with contextlib.contextmanager(breaking)(apply, restore):
        broken = baseline_audit()  # the whole live audit, as make audit runs it
        assert broken.failed == expected, [c["message"] for c in broken.items("failed")]
        assert broken.errors == set(), [c["message"] for c in broken.items("error")]
        assert all(c["expected"] and c["found"] for c in broken.items("failed"))
    healed = baseline_audit()
    assert healed.failed == set() and healed.errors == set()
