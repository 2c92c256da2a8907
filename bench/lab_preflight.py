"""Can this Python run plancheck's hardware and NVML controls from the tree? Imports what pytest
will import (conftest's plugins, the plugin, both check modules) and names each missing module with
the wheel that carries it. Used by bench/gpu_lab_check.sh; `--quiet` prints nothing.

Exit status: 0 all importable, 2 something missing.
"""
from __future__ import annotations

import importlib
import sys

WHEEL = {"yaml": "PyYAML", "pydantic": "pydantic", "pydantic_core": "pydantic-core", "croniter": "croniter",
         "dateutil": "python-dateutil", "testinfra": "pytest-testinfra", "pynvml": "nvidia-ml-py",
         "annotated_types": "annotated-types", "typing_extensions": "typing-extensions",
         "typing_inspection": "typing-inspection", "tzdata": "tzdata"}


def missing_modules() -> dict[str, str]:
    missing: dict[str, str] = {}
    for mod in ["pytest", "pynvml", "pydantic", "yaml", "croniter", "testinfra"]:
        try:
            importlib.import_module(mod)
        except ImportError as e:  # also a compiled module built for another Python
            missing[getattr(e, "name", None) or mod] = str(e)
    if missing:
        return missing
    import conftest

    for mod in [*conftest.pytest_plugins, "plancheck.plugin", "checks.test_hardware", "checks.test_gpu"]:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            missing[e.name or mod] = f"needed by {mod}: {e}"
    return missing


def main() -> int:
    missing = missing_modules()
    if missing and "--quiet" not in sys.argv:
        for mod, why in missing.items():
            top = mod.split(".")[0]
            print(f"MISSING: python module {mod!r}: wheel {WHEEL.get(top, top)} ({why})")
        print("To carry them (nothing is pip-installed on the lab): on a machine with network, in this repository,\n"
              "  bench/fetch_lab_wheels.sh [DISTRIBUTION ...]\n"
              "fills bench/wheels/ (git-ignored) with cp312 manylinux x86_64 wheels; bring bench/wheels/ along with\n"
              "the tree (device tool: carry [\"bench/wheels\"]) and run this again.")
    return 2 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
