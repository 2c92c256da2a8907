"""`--profile /path/prod.yaml` must behave exactly like `--profile=/path/prod.yaml`.

pytest finds its rootdir and ini file before it loads plugins from entry points, so at that moment it
does not know plancheck's options: in `--profile /some/dir/prod.yaml` (or `--dump-facts /tmp/f.json`)
it takes the value for a path to test. The rootdir moves to that path's directory, pyproject.toml is
not read, `testpaths` stops applying (the break-and-detect tests under tests/live get collected) and
the reports go elsewhere. Once the plugin is loaded, the arguments are parsed again with plancheck's
options known; here the ini lookup is redone with the real paths and, where it differs, pytest's
configuration is set to what `--opt=value` would have given.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    from _pytest.config.findpaths import determine_setup

    ns = early_config.known_args_namespace
    kwargs: dict[str, Any] = dict(inifile=ns.inifilename, args=list(ns.file_or_dir),
                                  rootdir_cmd_arg=ns.rootdir or None, invocation_dir=early_config.invocation_params.dir)
    try:
        found = determine_setup(override_ini=ns.override_ini, **kwargs)
    except TypeError:  # older pytest: no override_ini argument
        found = determine_setup(**kwargs)
    rootpath, inipath, inicfg = found[0], found[1], found[2]
    if rootpath == early_config.rootpath and inipath == early_config.inipath:
        return  # nothing was misread: the common case, also for `--opt=value`
    try:
        early_config._rootpath = rootpath  # type: ignore[attr-defined]
        early_config._inipath = inipath  # type: ignore[attr-defined]
        early_config._inicfg = inicfg  # type: ignore[attr-defined]
        early_config._inicache.clear()  # type: ignore[attr-defined]
        extra = early_config.getini("addopts") if inipath else []
        if extra:  # the ini's addopts were never applied: apply them now (plugins they block included)
            args[:] = list(extra) + args
            early_config.pluginmanager.consider_preparse(list(extra), exclude_only=False)
        early_config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
        early_config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
    except AttributeError as e:  # a pytest whose internals moved: say how to avoid it instead of misrunning
        raise pytest.UsageError(f"plancheck: write options as --option=value (pytest {pytest.__version__}: {e})")
