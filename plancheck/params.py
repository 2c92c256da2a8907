"""Parametrization from the profile: an argument name (e.g. `container`) maps to a function of the
profile returning the items to check, each with a readable id (`[redis]`, `[innodb_buffer_pool_size]`).
`fixtures/params.py` registers them; the plugin applies them in pytest_generate_tests."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from plancheck.profile.models import Profile

ParamFn = Callable[[Profile], Iterable[tuple[str, Any]]]
PARAMETERS: dict[str, ParamFn] = {}


def parameter(argname: str) -> Callable[[ParamFn], ParamFn]:
    def wrap(fn: ParamFn) -> ParamFn:
        PARAMETERS[argname] = fn
        return fn
    return wrap
