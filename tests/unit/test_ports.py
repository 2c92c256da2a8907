"""PORT-0xx on recorded facts (tests/data/good/exposure.json, recorded from the live baseline) and
the scanner's own behaviour on loopback."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Callable

import pytest

from plancheck.facts.exposure import drops_non_dnat, parse_listeners
from plancheck.scan import exact_address, parse_ports, scan
from tests.audit import load_good_facts, mutate, run_audit

GOOD = load_good_facts()
SELECT = ["-k", "test_ports.py"]
Facts = dict[str, Any]


def publish_mariadb(f: Facts) -> None:
    f["exposure"]["published"].append({"service": "mariadb", "host_ip": "0.0.0.0", "host_port": 3306,
                                       "container_port": 3306, "effective": False})


def no_docker_user_rule(f: Facts) -> None:
    f["exposure"]["loophole"]["external"].update(rules=[], drops_non_dnat=False)


def container_reachable(f: Facts) -> None:
    f["exposure"]["loophole"]["external"]["probes"][0]["reachable"] = True


CASES: dict[str, Callable[[Facts], None]] = {
    "PORT-001": lambda f: f["exposure"]["scans"]["external"]["open_ports"].append(8443),
    "PORT-002": publish_mariadb,
    "PORT-003": lambda f: f["exposure"]["listeners"].append("0.0.0.0:3306"),
    "PORT-004": no_docker_user_rule,
    "PORT-005": container_reachable,
}


def test_good_exposure_facts_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=GOOD, args=SELECT)
    assert res.failed == set(), [c["message"] for c in res.items("failed")]
    assert set(CASES) <= {c["control"] for c in res.checks if c["outcome"] == "passed"}


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_ports_control_fails_on_its_broken_fact(tmp_path: Path, control: str) -> None:
    res = run_audit(tmp_path, "baseline", facts=mutate(GOOD, CASES[control]), args=SELECT)
    assert res.failed == {control}, [c["message"] for c in res.items("failed")]


def test_sandbox_agent_is_allowed_only_by_the_baseline_profile(tmp_path: Path) -> None:
    assert "0.0.0.0:2024" in GOOD["exposure"]["listeners"]
    res = run_audit(tmp_path, "prod", facts=GOOD, args=["-k", "test_ports_host_listeners"])
    assert res.failed == {"PORT-003"}
    assert "0.0.0.0:2024" in res.items("failed")[0]["message"]


def test_docker_user_rule_reading() -> None:
    rules = ["-A DOCKER-USER -i pcx0 -m conntrack ! --ctstate DNAT -j DROP", "-A DOCKER-USER -j RETURN"]
    assert drops_non_dnat(rules, "pcx0")
    assert not drops_non_dnat(rules, "pcv0")
    assert not drops_non_dnat(["-A DOCKER-USER -j RETURN"] + rules, "pcx0")  # RETURN first: never reached
    assert not drops_non_dnat(["-A DOCKER-USER -i pcx0 -j ACCEPT"] + rules, "pcx0")


def test_parse_listeners() -> None:
    assert parse_listeners(["unix:///run/x.sock", "tcp://0.0.0.0:443", "tcp://:::443", "tcp://203.0.113.5:22"]) == \
        ["0.0.0.0:443", "203.0.113.5:22", "[::]:443"]


def test_scanner_refuses_networks_and_parses_ranges() -> None:
    with pytest.raises(ValueError):
        exact_address("203.0.113.0/24")
    assert parse_ports("22,443,8440-8443") == [22, 443, 8440, 8441, 8442, 8443]
    with pytest.raises(ValueError):
        parse_ports("0-10")


def test_scanner_finds_open_and_closed_ports_on_loopback() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]  # bound, not listening: RST
    try:
        out = scan([("127.0.0.1", port), ("127.0.0.1", closed_port)], timeout=0.5, concurrency=10)
    finally:
        srv.close()
        closed.close()
    assert out["open"] == [f"127.0.0.1:{port}"] and out["closed"] == 1
