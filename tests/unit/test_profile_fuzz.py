"""Fuzzing the profile loader (issue 10): whatever the file holds, load_profile returns a Profile or
raises ProfileError (one line per problem), never any other exception. About 20 s in all."""
from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plancheck.profile import Profile, ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROD = yaml.safe_load((ROOT / "profiles" / "prod.yaml").read_text())
FUZZ = settings(max_examples=1000, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PROD_PATHS = _paths(PROD)

YAMLISH = st.text(alphabet=st.sampled_from(list(string.ascii_letters[:8] + "019 :-\n\t[]{}&*!|>'\",#%@`?.~=$\\")
                                           + ["\u00e9", "\ud55c", "\x00", "\x85", "\ufeff"]), max_size=300)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**400)
           | st.floats() | st.text(max_size=20)
           | st.sampled_from(["48GB", "48QB", "1e400GB", "2026-13-45", "2026-02-28", "Mars/Olympus", "Asia/Seoul",
                              "0 2 * * *", "61 2 * * *", "7d", "1" * 400, "../../etc/passwd", "*", "-1GB"]))
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8) | SCALARS, c,
                                                                                    max_size=4), max_leaves=25)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True)


def _load(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        assert isinstance(load_profile(path), Profile)
    except ProfileError as e:
        assert e.lines and all(isinstance(line, str) and "\n" not in line for line in e.lines)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(text=YAMLISH)
def test_yamlish_text(fuzz_dir: Path, text: str) -> None:
    _load(fuzz_dir / "text.yaml", text)


@FUZZ
@given(data=VALUES)
def test_random_structures(fuzz_dir: Path, data: Any) -> None:
    _load(fuzz_dir / "struct.yaml", _dump(data))


# 200 here (each loads the whole plan, ~30 ms): the loader's 1000-example bar is held by the two
# tests above, which build whole profiles from scratch
@settings(FUZZ, max_examples=200)
@given(where=st.sampled_from(PROD_PATHS), value=VALUES)
def test_prod_with_one_value_replaced(fuzz_dir: Path, where: tuple, value: Any) -> None:
    """The plan with one key's value replaced by anything: reaches every validator of the schema."""
    data = copy.deepcopy(PROD)
    node = data
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    _load(fuzz_dir / "prod.yaml", _dump(data))
