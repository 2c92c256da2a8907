"""A fleet: the hosts of an Ansible inventory, audited host by host (`target.fleet` in the profile).

The inventory is read by Ansible itself (`ansible-inventory --list`, through testinfra's
AnsibleRunner): hosts, groups, addresses, users, keys and ssh arguments mean what they mean to
Ansible. Each member is reached through testinfra's ansible backend (`ansible://NAME?ansible_inventory=`),
which runs commands over ssh with the inventory's connection settings, and, where its role runs
Docker, through the Docker SDK at `ssh://USER@ADDRESS:PORT` (the `docker system dial-stdio` tunnel).

Per-host fact sources are named `SOURCE@HOST` in the FactStore (`host@fleet-1`); the reader gets a
Context whose `member` is the host. Checks marked `per_host` are parametrized over the members
(`[host=fleet-1]`); everything else is read once, from `target.*`, as on a single host.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from plancheck.profile.models import Profile

PER_HOST_SOURCES = ("host", "containers")  # sources with a per-host reader
HOST_PARAM = "fleet_member"  # the parametrized argument of per-host checks
HOST_ID = "host="  # its id prefix: test_cpu_model[host=fleet-1]
SEP = "@"


class FleetError(Exception):
    """The inventory cannot be read or a group names no host: one line."""


@dataclass(frozen=True)
class Member:
    name: str  # the inventory hostname
    group: str  # the first of target.fleet.groups it belongs to (its role)
    docker: bool  # the role runs Docker (target.fleet.groups.GROUP.docker)
    testinfra: str  # testinfra host spec
    docker_url: str  # ssh://user@address:port, or "" where the role runs no Docker
    address: str = ""


def scoped(source: str, member: Optional[str]) -> str:
    return f"{source}{SEP}{member}" if member else source


def split(name: str) -> tuple[str, Optional[str]]:
    """`host@fleet-1` -> ("host", "fleet-1"); `host` -> ("host", None)."""
    base, sep, member = name.partition(SEP)
    return base, (member if sep else None)


def inventory_path(profile: Profile, root: Path) -> Path:
    assert profile.target.fleet is not None
    p = Path(profile.target.fleet.inventory)
    return p if p.is_absolute() else root / p


_lock = threading.Lock()
_cache: dict[tuple[str, tuple[tuple[str, bool, Optional[str]], ...]], list[Member]] = {}


def _ensure_ansible_on_path() -> None:
    """testinfra runs `ansible-inventory` through the shell: find it beside this interpreter (a venv
    that is not activated) when it is not on PATH."""
    if shutil.which("ansible-inventory"):
        return
    here = Path(sys.executable).parent
    if (here / "ansible-inventory").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"


def members(profile: Profile, root: Path) -> list[Member]:
    """The hosts of the fleet's groups, in inventory order by group then name (each host once, with
    the role of the first group that names it). Cached per process and inventory."""
    fleet = profile.target.fleet
    if fleet is None:
        return []
    inv = inventory_path(profile, root)
    key = (str(inv), tuple((g, r.docker, r.docker_user) for g, r in fleet.groups.items()))
    with _lock:
        if key in _cache:
            return _cache[key]
        if not inv.is_file():
            raise FleetError(f"target.fleet.inventory: {inv}: no such inventory file")
        try:
            from testinfra.utils.ansible_runner import AnsibleRunner
        except ImportError:
            raise FleetError("target.fleet: testinfra's ansible support is not installed "
                             "(pip install -e '.[fleet]': ansible-core)") from None
        _ensure_ansible_on_path()
        if not shutil.which("ansible-inventory"):
            raise FleetError("target.fleet: ansible-inventory not found (pip install -e '.[fleet]': ansible-core)")
        runner = AnsibleRunner.get_runner(str(inv))
        try:
            inventory = runner.inventory
        except Exception as e:  # ansible-inventory failed: its message, one line
            raise FleetError(f"target.fleet.inventory: {inv}: {str(e).strip().splitlines()[-1][:200]}") from None
        out: list[Member] = []
        seen: set[str] = set()
        for group, role in fleet.groups.items():
            if group not in inventory:
                raise FleetError(f"target.fleet.groups: {group}: no such group in {inv}")
            names = runner.get_hosts(group)
            if not names:
                raise FleetError(f"target.fleet.groups: {group}: the group has no hosts in {inv}")
            for name in names:
                if name in seen:
                    continue
                seen.add(name)
                hv = runner.get_variables(name)
                address = str(hv.get("ansible_host") or name)
                user = role.docker_user or hv.get("ansible_user") or ""
                port = hv.get("ansible_port")
                url = ""
                if role.docker:
                    host = f"[{address}]" if ":" in address else address
                    url = f"ssh://{user + '@' if user else ''}{host}{':' + str(port) if port else ''}"
                out.append(Member(name=name, group=group, docker=role.docker, address=address,
                                  testinfra=f"ansible://{name}?ansible_inventory={inv}", docker_url=url))
        _cache[key] = out
        return out


def member(profile: Profile, root: Path, name: str) -> Member:
    for m in members(profile, root):
        if m.name == name:
            return m
    raise FleetError(f"{name}: not a host of target.fleet")


def host_of(nodeid_or_params: Any) -> Optional[str]:
    """The fleet host of an item's params (None for checks that are not per host)."""
    params = nodeid_or_params if isinstance(nodeid_or_params, dict) else \
        dict(getattr(getattr(nodeid_or_params, "callspec", None), "params", {}) or {})
    value = params.get(HOST_PARAM)
    return str(value) if value else None
