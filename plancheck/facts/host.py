"""Host facts (1.1 하드웨어 구성): CPU, memory, block devices and NIC link speeds, read through
testinfra so the same reader works on this machine (`local://`) or over ssh and the other testinfra
backends (`target.host_backend` in the profile). Live only: hardware is not in any desired state."""
from __future__ import annotations

import json
import re
import shlex
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register

NOT_STATIC = "hardware is only observable on the host"

_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon", "CentaurHauls": "Centaur"}
_ARM_IMPLEMENTERS = {"0x41": "ARM", "0x4e": "NVIDIA", "0x50": "Ampere", "0x61": "Apple", "0xc0": "Ampere"}


class BlockDevice(BaseModel):
    name: str
    transport: Optional[str]  # nvme, sata, sas, usb, ... None for virtual disks (virtio, zram)
    size: int  # bytes
    type: str
    model: Optional[str] = None


DEFAULT_ROUTE = "default-route"  # in hardware.network.interfaces: whatever carries the default route


class Nic(BaseModel):
    present: bool
    speed: Optional[int]  # Mbit/s; None when the link is down or the driver reports no speed
    operstate: str = ""
    device: str = ""  # the kernel's name, where the profile named the interface by role (default-route)


class HostFacts(Facts):
    hostname: str
    cpu_vendor: str  # Intel, AMD, ... (from vendor_id; 'unknown' when /proc/cpuinfo has none)
    cpu_model: str  # the `model name` line, e.g. "Intel(R) Xeon(R) Gold 6430"
    cpus: int  # logical CPUs: what nproc and Docker's `cpus:` limits count
    cores: int  # physical cores (distinct physical id/core id pairs; = cpus where not reported)
    sockets: int
    memory_total: int  # bytes (MemTotal)
    disks: list[BlockDevice]
    nics: dict[str, Nic]  # the interfaces the profile names
    # bare metal: what each probe said ("systemd-detect-virt: none", "cpuinfo flags: no hypervisor", ...)
    # and which of them found a hypervisor or a container; an unprobed host is "could not tell"
    virt_probes: list[str] = []
    virtualization: Union[list[str], Unavailable] = Unavailable(reason="virtualization not probed", kind="unknown")


# --- parsers (plain functions: unit-tested without a host) ----------------------------------------
def parse_cpuinfo(text: str) -> dict[str, Any]:
    """/proc/cpuinfo -> vendor, model, logical CPUs, physical cores, sockets."""
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    procs: list[dict[str, str]] = []
    for b in blocks:
        fields = {}
        for line in b.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        if "processor" in fields:
            procs.append(fields)
    first = procs[0] if procs else {}
    vendor_id = first.get("vendor_id", "")
    vendor = _VENDORS.get(vendor_id, vendor_id) or _ARM_IMPLEMENTERS.get(first.get("CPU implementer", ""), "unknown")
    model = first.get("model name") or first.get("Model") or first.get("cpu model") or "unknown"
    pairs = {(p.get("physical id", "0"), p["core id"]) for p in procs if "core id" in p}
    sockets = {p["physical id"] for p in procs if "physical id" in p}
    return {"cpu_vendor": vendor, "cpu_model": model, "cpus": len(procs),
            "cores": len(pairs) or len(procs), "sockets": len(sockets) or 1}


def parse_meminfo(text: str) -> int:
    """MemTotal in bytes."""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    if not m:
        raise FactError("host: /proc/meminfo has no MemTotal line")
    return int(m.group(1)) * 1024


def parse_lsblk(text: str) -> list[BlockDevice]:
    """`lsblk -J -b -d -o NAME,TRAN,SIZE,TYPE,MODEL` -> the whole disks (sizes in bytes; older
    util-linux prints them as strings)."""
    try:
        data = json.loads(text)
        rows = data["blockdevices"]
    except (ValueError, KeyError, TypeError):
        raise FactError(f"host: lsblk printed no JSON block device list: {text.strip()[:120]!r}") from None
    out = []
    for r in rows:
        size = r.get("size")
        out.append(BlockDevice(name=str(r.get("name", "")), transport=(r.get("tran") or None),
                               size=int(size) if size not in (None, "") else 0, type=str(r.get("type") or ""),
                               model=(str(r["model"]).strip() or None) if r.get("model") else None))
    return out


def parse_speed(text: str) -> Optional[int]:
    """/sys/class/net/IF/speed: Mbit/s; -1 or unreadable (link down, virtual device) -> None."""
    try:
        v = int(text.strip())
    except ValueError:
        return None
    return v if v > 0 else None


# Hypervisors and clouds as DMI names them (sys_vendor / product_name), lower case.
_VM_DMI = ("qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "microsoft corporation virtual", "hyper-v",
           "amazon ec2", "google compute engine", "openstack", "bochs", "parallels", "bhyve", "cloud hypervisor")


def detect_virtualization(detect_virt: Optional[str], cpu_flags: str, dmi: str) -> tuple[list[str], list[str]]:
    """(what was looked at, what found virtualization). Any one probe that sees a hypervisor or a
    container is enough; a probe that could not run is listed as such and decides nothing."""
    probes, found = [], []
    if detect_virt is None:
        probes.append("systemd-detect-virt: not available")
    else:
        probes.append(f"systemd-detect-virt: {detect_virt or 'none'}")
        if detect_virt and detect_virt != "none":
            found.append(f"systemd-detect-virt says {detect_virt}")
    flags = set(cpu_flags.split())
    probes.append("cpuinfo flags: " + ("hypervisor" if "hypervisor" in flags else "no hypervisor flag"))
    if "hypervisor" in flags:
        found.append("the CPU reports the hypervisor flag")
    probes.append(f"DMI: {dmi or 'not readable'}")
    if any(v in dmi.lower() for v in _VM_DMI):
        found.append(f"DMI names a virtual machine ({dmi})")
    return probes, found


# --- live ----------------------------------------------------------------------------------------
def get_host(ctx: Context) -> Any:
    try:
        import testinfra
    except ImportError:
        raise FactError("host: the testinfra package (pytest-testinfra) is not installed") from None
    backend = backend_of(ctx)
    try:
        host = testinfra.get_host(backend)
    except Exception as e:  # unknown backend, bad URL
        raise FactError(f"host: cannot open testinfra backend {backend}: {str(e).splitlines()[0][:200]}") from None
    return meter.count_host(host)  # each command: one round trip of the source reading the host


def backend_of(ctx: Context) -> str:
    """The testinfra backend: the fleet host's (`ansible://NAME?ansible_inventory=...`) when the
    source is read for one host of target.fleet, else target.host_backend."""
    return ctx.member.testinfra if ctx.member is not None else ctx.profile.target.host_backend


def _read(host: Any, path: str, backend: str) -> str:
    r = host.run(f"cat {shlex.quote(path)}")
    if r.rc != 0:
        raise FactError(f"host {backend}: cannot read {path}: {(r.stderr or r.stdout).strip()[:200]}")
    return r.stdout


class Batched:
    """A testinfra host whose known commands were run in ONE remote shell (one ssh round trip instead of
    one per command, for a fleet host): `run` answers them from that run, with the same rc, stdout and
    stderr, and sends anything else to the host. Each command's output travels base64-encoded."""

    _RUN = ("run() { e=$( { o=$( (eval \"$1\"); r=$?; echo x; exit $r); rc=$?; "
            "printf '%s %s ' \"$(printf '%s' \"${o%x}\" | base64 | tr -d '\\n')\" \"$rc\" >&3; } 2>&1 ); "
            "printf '%s\\n' \"$(printf '%s' \"$e\" | base64 | tr -d '\\n')\"; }")

    def __init__(self, host: Any, commands: list[str]):
        import base64
        from types import SimpleNamespace

        self.host, self.answers = host, {}
        script = "\n".join(["exec 3>&1", self._RUN, *(f"run {shlex.quote(c)}" for c in commands)])
        r = host.run(script)
        lines = r.stdout.splitlines() if r.rc == 0 else []
        if len(lines) != len(commands):
            return  # a shell that did not run it as written: every command goes to the host one by one
        dec = lambda t: base64.b64decode(t).decode("utf-8", "replace")  # noqa: E731
        for cmd, line in zip(commands, lines):
            out, rc, err = (line.split(" ") + ["", "", ""])[:3]
            if rc.isdigit():
                self.answers[cmd] = SimpleNamespace(rc=int(rc), stdout=dec(out), stderr=dec(err), command=cmd)

    def run(self, command: str) -> Any:
        found = self.answers.get(command)
        return found if found is not None else self.host.run(command)


def _commands(ctx: Context) -> list[str]:
    """The commands HostSource reads with, known before the first answer (a `default-route`
    interface's files follow from the route: read after it)."""
    out = ["cat /proc/cpuinfo", "cat /proc/meminfo", "lsblk -J -b -d -o NAME,TRAN,SIZE,TYPE,MODEL", "hostname",
           "systemd-detect-virt", "cat /sys/class/dmi/id/sys_vendor", "cat /sys/class/dmi/id/product_name"]
    for nic in ctx.profile.hardware.network.interfaces:
        if nic == DEFAULT_ROUTE:
            out.append("ip route show default")
            continue
        base = f"/sys/class/net/{nic}"
        out += [f"test -e {shlex.quote(base)}", f"cat {shlex.quote(base + '/speed')}",
                f"cat {shlex.quote(base + '/operstate')}"]
    return out


@register
class HostSource(FactSource):
    name = "host"
    model = HostFacts

    def static(self, ctx: Context) -> HostFacts:
        raise NoSource(NOT_STATIC)

    def live(self, ctx: Context) -> HostFacts:
        host = get_host(ctx)
        backend = backend_of(ctx)
        try:
            if ctx.member is not None:  # a fleet host over ssh: one round trip for the known commands
                host = Batched(host, _commands(ctx))
            return self._live(ctx, host, backend)
        except RuntimeError as e:  # testinfra's ssh backend: ssh itself failed (exit 255)
            out = getattr(e.args[0], "stderr", "") if e.args else ""
            raise FactError(f"host {backend}: ssh failed: {(out or str(e)).strip().splitlines()[-1][:200]}") from None

    def _live(self, ctx: Context, host: Any, backend: str) -> HostFacts:
        cpu = parse_cpuinfo(_read(host, "/proc/cpuinfo", backend))
        mem = parse_meminfo(_read(host, "/proc/meminfo", backend))
        r = host.run("lsblk -J -b -d -o NAME,TRAN,SIZE,TYPE,MODEL")
        if r.rc != 0:
            raise FactError(f"host {backend}: lsblk failed: {(r.stderr or r.stdout).strip()[:200]}")
        disks = parse_lsblk(r.stdout)
        nics = {}
        for nic in ctx.profile.hardware.network.interfaces:
            device = nic
            if nic == DEFAULT_ROUTE:
                route = host.run("ip route show default")
                m = re.search(r"\bdev (\S+)", route.stdout if route.rc == 0 else "")
                if not m:
                    raise FactError(f"host {backend}: no interface carries a default route "
                                    f"({(route.stderr or route.stdout).strip()[:120] or 'ip route show default: empty'})")
                device = m.group(1)
            base = f"/sys/class/net/{device}"
            if host.run(f"test -e {shlex.quote(base)}").rc != 0:
                nics[nic] = Nic(present=False, speed=None, device=device)
                continue
            speed = host.run(f"cat {shlex.quote(base + '/speed')}")
            state = host.run(f"cat {shlex.quote(base + '/operstate')}")
            nics[nic] = Nic(present=True, speed=parse_speed(speed.stdout) if speed.rc == 0 else None,
                            operstate=state.stdout.strip() if state.rc == 0 else "", device=device)
        hostname = host.run("hostname").stdout.strip()
        dv = host.run("systemd-detect-virt")  # rc 1 with "none" on bare metal; 127 when not installed
        detect = dv.stdout.strip() if dv.rc in (0, 1) and dv.stdout.strip() else None
        flags = next((ln.split(":", 1)[1] for ln in _read(host, "/proc/cpuinfo", backend).splitlines()
                      if ln.startswith("flags")), "")
        dmi = " ".join(r.stdout.strip() for r in (host.run("cat /sys/class/dmi/id/sys_vendor"),
                                                  host.run("cat /sys/class/dmi/id/product_name")) if r.rc == 0)
        probes, found = detect_virtualization(detect, flags, dmi)
        return HostFacts(source=f"testinfra {backend}", hostname=hostname, memory_total=mem, disks=disks,
                         nics=nics, virt_probes=probes, virtualization=found, **cpu)
