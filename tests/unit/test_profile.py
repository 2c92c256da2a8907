"""Profile loading: the plan's values, extends inheritance, and one clear line per problem."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from plancheck.profile import ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"


def test_prod_holds_the_plan() -> None:
    p = load_profile("prod", PROFILES)
    assert p.hardware.gpu.count == 4 and p.hardware.memory == 256 * 1024**3
    assert p.containers["llm-server"].gpus == [0, 1] and p.containers["mariadb"].memory == 64 * 1024**3
    assert p.mariadb.variables["innodb_buffer_pool_size"] == "48GB"
    assert p.backup.schedule == "0 2 * * *" and p.backup.retention == 30 and p.backup.incremental
    assert p.redis.maxmemory == 16 * 1024**3 and p.redis.settings["save"] == "900 1 300 10 60 10000"
    assert [c.retention for c in p.logs.classes.values()] == [7, 365, 1825]
    assert [x.port for x in p.security.public_ports] == [443]
    assert sorted(x.port for x in p.security.vpn_ports) == [22, 8443]


def _write(tmp: Path, name: str, data: dict) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _child(tmp: Path, **overrides: object) -> Path:
    return _write(tmp, "child", {"extends": str(PROFILES / "prod.yaml"), **overrides})


def test_extends_overrides_keys_and_replaces_lists(tmp_path: Path) -> None:
    path = _child(tmp_path, name="child", hardware={"memory": "24GB", "storage": [{"capacity": "200GB"}]})
    p = load_profile(path)
    assert p.name == "child" and p.hardware.memory == 24 * 1024**3
    assert p.hardware.gpu.count == 4  # untouched keys inherited
    assert len(p.hardware.storage) == 1 and p.hardware.storage[0].capacity == 200 * 1024**3  # list replaced


def _errors(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    return e.value.lines


def test_bad_unit_names_file_key_and_problem(tmp_path: Path) -> None:
    path = _child(tmp_path, mariadb={"variables": {"innodb_buffer_pool_size": "48QB"}})
    (line,) = _errors(path)
    assert line.startswith(str(path)) and "mariadb.variables.innodb_buffer_pool_size" in line
    assert "invalid size '48QB'" in line


def test_unknown_key(tmp_path: Path) -> None:
    path = _child(tmp_path, redis={"maxmemroy": "1GB"})
    (line,) = _errors(path)
    assert "redis.maxmemroy: unknown key" in line


def test_missing_key(tmp_path: Path) -> None:
    data = yaml.safe_load((PROFILES / "prod.yaml").read_text())
    del data["backup"]["schedule"]
    path = _write(tmp_path, "nosched", data)
    (line,) = _errors(path)
    assert line == f"{path.resolve()}: backup.schedule: required key is missing"


def test_several_problems_one_line_each(tmp_path: Path) -> None:
    path = _child(tmp_path, hardware={"memory": "lots"}, backup={"schedule": "at two", "retention": "30x"})
    lines = _errors(path)
    assert len(lines) == 3 and all(line.count("\n") == 0 for line in lines)
    assert any("invalid cron expression 'at two'" in line for line in lines)


def test_error_in_parent_names_the_parent(tmp_path: Path) -> None:
    parent = _write(tmp_path, "parent", {**yaml.safe_load((PROFILES / "prod.yaml").read_text()),
                                         "monitoring": {"bogus": 1}})
    child = _write(tmp_path, "kid", {"extends": str(parent), "name": "kid"})
    lines = _errors(child)
    assert any(line.startswith(str(parent.resolve()) + ": monitoring.bogus: unknown key") for line in lines)


def test_secret_values_are_refused(tmp_path: Path) -> None:
    path = _child(tmp_path, target={"endpoints": {"redis": {"host": "h", "port": 1,
                                                            "credential": {"password_env": "hunter2!"}}}})
    (line,) = _errors(path)
    assert "environment variable NAME" in line and "hunter2" not in line.split(":", 1)[1].split("must")[1]


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    assert "profile file not found" in _errors(tmp_path / "nope.yaml")[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert "not valid YAML" in _errors(bad)[0]


def test_extends_cycle(tmp_path: Path) -> None:
    _write(tmp_path, "a", {"extends": str(tmp_path / "b.yaml")})
    _write(tmp_path, "b", {"extends": str(tmp_path / "a.yaml")})
    assert "extends: cycle" in _errors(tmp_path / "a.yaml")[0]


@pytest.mark.parametrize("override,needle", [
    ({"mariadb": {"variables": {"innodb_buffer_pool_size": "48QB"}}}, "invalid size '48QB'"),
    ({"redis": {"maxmemroy": "1GB"}}, "unknown key"),
])
def test_cli_malformed_profile_one_line_no_traceback(tmp_path: Path, override: dict, needle: str) -> None:
    path = _child(tmp_path, **override)
    out = subprocess.run([sys.executable, "-m", "pytest", f"--profile={path}", "--static",
                          f"--reports-dir={tmp_path / 'r'}", "-q"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and needle in text and "Traceback" not in text
    assert (tmp_path / "r" / "latest" / "results.json").exists()  # the run still writes its reports


# --- whose value a record compared: the plan's, an override, an addition ---------------------------
def test_overrides_are_the_keys_a_child_changes() -> None:
    assert load_profile("prod", PROFILES).overrides == ()
    over = set(load_profile("baseline", PROFILES).overrides)
    assert {"mariadb.version", "redis.version", "mariadb.variables.innodb_buffer_pool_size",
            "containers.redis.memory", "monitoring.scrape_jobs"} <= over
    # restated at the plan's value: not an override
    assert "mariadb.variables.max_connections" not in over and "containers.redis.zone" not in over


def test_overrides_cannot_be_written_in_a_profile(tmp_path: Path) -> None:
    child = _write(tmp_path, "child", {"extends": str(PROFILES / "baseline.yaml"), "overrides": ["redis.version"]})
    with pytest.raises(ProfileError) as e:
        load_profile(str(child), PROFILES)
    assert "overrides: set by the loader" in str(e.value)


def test_basis_of_a_record() -> None:
    from plancheck.controls import basis

    base, prod = load_profile("baseline", PROFILES), load_profile("prod", PROFILES)
    b = lambda reads, params, p: basis(reads, params, p.overrides, p.additions)  # noqa: E731
    assert b(("containers.{container}.memory",), {"container": "redis"}, base) == "override"
    assert b(("containers.{container}.memory",), {"container": "redis"}, prod) == "plan"
    assert b(("containers.{container}.memory",), {"container": "gateway"}, prod) == "addition"
    assert b(("mariadb.variables.{mariadb_variable}",), {"mariadb_variable": ("max_connections", 1000)}, base) == "plan"
    assert b(("mariadb.variables.{mariadb_variable}",), {"mariadb_variable": ("innodb_buffer_pool_size", "48GB")},
             base) == "override"
    assert b(("hardware.cpu",), {}, base) == "override"  # a read touched by an override below it
    assert b(("+cis",), {}, prod) == "addition" and b((), {}, prod) == ""
    # a plan value read together with an addition is still the plan's
    assert b(("backup.schedule", "backup.max_age"), {}, prod) == "plan" and b(("backup.max_age",), {}, prod) == "addition"


def _touches(read: list[str], key: list[str]) -> bool:
    """The rule, pair by pair: one is a prefix of the other (`*` in the read matches any key)."""
    return all(a == b or a == "*" for a, b in zip(read, key))


def _under(read: list[str], key: list[str]) -> bool:
    """The rule, pair by pair: the key is a prefix of the read (`*` in the key matches any segment)."""
    return len(read) >= len(key) and all(a == b or a == "*" for a, b in zip(key, read))


_SEG = st.sampled_from(["containers", "redis", "memory", "gpus", "*", "hardware", "cpu"])


@settings(max_examples=300, deadline=None)
@given(reads=st.lists(st.lists(_SEG, min_size=1, max_size=4), min_size=1, max_size=3),
       overrides=st.lists(st.lists(_SEG.filter(lambda s: s != "*"), min_size=1, max_size=4), max_size=4),
       additions=st.lists(st.lists(_SEG, min_size=1, max_size=4), max_size=4))
def test_basis_follows_the_pairwise_rule(reads: list[list[str]], overrides: list[list[str]],
                                         additions: list[list[str]]) -> None:
    """basis() walks a trie of the profile's keys; its answer is the pairwise rule's on every input."""
    from plancheck.controls import basis

    expected = ("override" if any(_touches(r, o) for r in reads for o in overrides) else
                "addition" if all(any(_under(r, a) for a in additions) for r in reads) else "plan")
    got = basis(tuple(".".join(r) for r in reads), {}, tuple(".".join(o) for o in overrides),
                tuple(".".join(a) for a in additions))
    assert got == expected
