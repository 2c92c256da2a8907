"""The fleet tests build their own hosts (network namespaces with sshd, tests/fleet/lab.py): they need
neither Docker nor the baseline, but root and openssh-server, and they change this machine's network
(a bridge pcfleet-br and namespaces pcfleetN, removed afterwards): opt-in like tests/live."""
from __future__ import annotations

import os

import pytest

from tests.fleet.lab import why_not

OPT_IN = "PLANCHECK_LIVE_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = None
    if os.environ.get(OPT_IN) != "1":
        why = f"the fleet tests create network namespaces and sshd processes: set {OPT_IN}=1 to run them (make test does)"
    else:
        why = why_not()
    for item in items:
        if "tests/fleet" in str(item.fspath):
            item.add_marker(pytest.mark.live)
            if why:
                item.add_marker(pytest.mark.skip(reason=f"fleet lab: {why}"))
