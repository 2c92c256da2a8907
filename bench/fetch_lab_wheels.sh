#!/usr/bin/env bash
# Fill bench/wheels/ (git-ignored) with the wheels plancheck's engine needs on the GPU lab machine,
# which has Python 3.12 with pytest, hypothesis and nvidia-ml-py but no network. Run it here, on a
# machine with network and this repository's .venv; then carry bench/wheels/ to the lab with the
# tree (the device tool: carry ["bench/wheels"]). bench/gpu_lab_check.sh unpacks them there into
# bench/.lab-site and puts that on PYTHONPATH: nothing is pip-installed on the lab.
#
#   bench/fetch_lab_wheels.sh [EXTRA_DISTRIBUTION ...]   # e.g. `requests` if a preflight names it
#
# Versions are pinned to this .venv's (the ones the suite's tests ran with); the closure of their
# requirements is taken from the installed metadata, minus what the lab already has. Wheels are for
# CPython 3.12, manylinux x86_64 (PYTHON_VERSION / PLATFORM override).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYVER=${PYTHON_VERSION:-3.12}
ABI="cp${PYVER/./}"
PLATFORMS=${PLATFORM:-"manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_28_x86_64"}
DEST=bench/wheels

pins=$("$PY" - "$PYVER" "$@" <<'EOF'
import re
import sys
from importlib import metadata

from packaging.requirements import Requirement

pyver, extra = sys.argv[1], sys.argv[2:]
# what the engine imports on the hardware/NVML path (pydantic models, YAML profiles, croniter in the
# profile schema, testinfra for host facts), plus whatever the caller names
roots = ["pydantic", "PyYAML", "croniter", "pytest-testinfra", *extra]
# already on the lab: pytest and hypothesis with their own requirements, and NVML's bindings
on_lab = {"pytest", "pluggy", "iniconfig", "packaging", "hypothesis", "attrs", "sortedcontainers",
          "exceptiongroup", "tomli", "colorama", "nvidia-ml-py"}
env = {"python_version": pyver, "python_full_version": f"{pyver}.0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


skip = {norm(n) for n in on_lab}
pins, todo = {}, list(roots)
while todo:
    name = todo.pop()
    if norm(name) in pins or norm(name) in skip:
        continue
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        sys.exit(f"fetch_lab_wheels: {name} is not installed in this .venv; install it there first")
    pins[norm(name)] = f"{dist.metadata['Name']}=={dist.version}"
    for r in dist.requires or []:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate(env):
            todo.append(req.name)
print(" ".join(sorted(pins.values())))
EOF
)

platform_args=()
for p in $PLATFORMS; do platform_args+=(--platform "$p"); done
mkdir -p "$DEST"
echo "fetching into $DEST for CPython $PYVER ($PLATFORMS): $pins"
# shellcheck disable=SC2086  # $pins is a list of requirement specifiers
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --abi "$ABI" --abi abi3 --abi none "${platform_args[@]}" --dest "$DEST" $pins
ls -1 "$DEST"
du -sh "$DEST"
