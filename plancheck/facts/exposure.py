"""4.1 exposure facts: what answers from outside, what is published, what listens, and Docker's
loophole.

- scans: from each vantage point of the target (a network namespace on the host with its own link:
  the external client, the VPN client) a connect scan of all 65535 TCP ports of exactly the host
  address it is given (`ip netns exec NS python -m plancheck.scan`, JSON back). Both run at once.
- published: every published port of the compose project, as Docker set it up (effective) and as
  the containers ask for it (HostConfig.PortBindings: a port on an internal-only network is asked
  for but not set up, and opens the day the container joins a routed network). Static mode: the
  compose project's `ports:`.
- listeners: every listening TCP socket of the host (testinfra, `target.host_backend`).
- loophole: Docker 20.10 lets a host that routes to a container IP reach its ports (even a port
  "published on 127.0.0.1"). Read the DOCKER-USER rules for each vantage interface, and prove it:
  inside the vantage namespace a temporary /32 route via the host to each published container's
  IP (removed afterwards), then a connect to the container port.
"""
from __future__ import annotations

import os

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Union

from pydantic import BaseModel

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, Unavailable, register
from plancheck.scan import run_scanner, scan_in_netns

LIVE_ONLY = "no static source: only the running host answers a scan"


class VantageScan(BaseModel):
    netns: str
    address: str
    open_ports: list[int]
    scanned: int = 0
    closed: int = 0
    filtered: int = 0
    duration_s: float = 0.0
    error: str = ""  # the scan could not run (namespace missing, ...): every dependent check errors


class Published(BaseModel):
    service: str
    host_ip: str
    host_port: int
    container_port: int
    effective: bool = True  # False: asked for by the container, not set up by Docker (internal network)


class LoopholeProbe(BaseModel):
    target: str  # service ip:port
    reachable: bool


class Loophole(BaseModel):
    interface: str
    rules: list[str]  # the DOCKER-USER rules naming the interface
    drops_non_dnat: bool  # a rule drops what Docker did not DNAT for a published port
    probes: list[LoopholeProbe] = []
    error: str = ""


class ExposureFacts(Facts):
    scans: dict[str, Union[VantageScan, Unavailable]]
    published: list[Published]
    listeners: Union[list[str], Unavailable]  # "0.0.0.0:443", "[::]:443"
    loophole: dict[str, Union[Loophole, Unavailable]]
    duration_s: float = 0.0


def _sh(cmd: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def docker_user_rules() -> list[str]:
    out = _sh(["iptables", "-w", "5", "-S", "DOCKER-USER"])
    if out.returncode != 0:
        raise FactError(f"cannot read the DOCKER-USER chain: {' '.join(out.stderr.split())[:200]}")
    return [line for line in out.stdout.splitlines() if line.startswith("-A DOCKER-USER")]


def drops_non_dnat(rules: list[str], interface: str) -> bool:
    """A DROP of traffic from `interface` that Docker did not DNAT, before a rule lets all of it through."""
    for rule in rules:
        w = rule.split()
        iface = w[w.index("-i") + 1] if "-i" in w else None
        if iface not in (None, interface):
            continue
        target = w[w.index("-j") + 1] if "-j" in w else ""
        text = " ".join(w)
        if target in ("DROP", "REJECT") and "! --ctstate DNAT" in text:
            return True
        rest = text.replace("-A DOCKER-USER", "").replace(f"-i {iface}" if iface else "\0", "")
        if target in ("ACCEPT", "RETURN") and not rest.replace(f"-j {target}", "").strip():
            return False  # everything from the interface goes on before any drop
    return False


def parse_listeners(urls: list[str]) -> list[str]:
    out = []
    for u in urls:
        if not u.startswith("tcp://"):
            continue
        addr, _, port = u[len("tcp://"):].rpartition(":")
        out.append(f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}")
    return sorted(set(out))


def _published_live(ctx: Context) -> tuple[list[Published], dict[str, list[tuple[str, int]]]]:
    """Published ports (effective and requested) and, per service, its (IP on a routed network, port)."""
    from plancheck.facts.containers import docker_client

    assert ctx.store is not None
    cf = ctx.store.get("containers")
    routed = {n for n, net in cf.networks.items() if not net.internal}  # type: ignore[attr-defined]
    client = docker_client(ctx)
    project = ctx.profile.target.compose.project_name
    published: list[Published] = []
    targets: dict[str, list[tuple[str, int]]] = {}
    try:
        for c in client.api.containers(filters={"label": f"com.docker.compose.project={project}"}):
            ins = client.api.inspect_container(c["Id"])
            service = (ins["Config"].get("Labels") or {}).get("com.docker.compose.service", ins["Name"].lstrip("/"))
            effective = set()
            for spec, bindings in (ins["NetworkSettings"].get("Ports") or {}).items():
                cport = int(spec.split("/")[0])
                for b in bindings or []:
                    effective.add((b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), cport))
            requested = set()
            for spec, bindings in (ins["HostConfig"].get("PortBindings") or {}).items():
                cport = int(spec.split("/")[0])
                for b in bindings or []:
                    if b.get("HostPort"):
                        requested.add((b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), cport))
            for ip, hport, cport in sorted(effective | requested):
                published.append(Published(service=service, host_ip=ip, host_port=hport, container_port=cport,
                                           effective=(ip, hport, cport) in effective or
                                           (ip == "0.0.0.0" and ("::", hport, cport) in effective)))
            if effective or requested:
                facts = cf.containers.get(service)  # type: ignore[attr-defined]
                ips = [ip for net, ip in (facts.addresses.items() if facts else []) if ip and net in routed]
                targets[service] = [(ip, cport) for ip in ips for cport in sorted({p[2] for p in effective | requested})]
    finally:
        client.close()
    return published, targets


def _vantage_scan(ctx: Context, name: str) -> VantageScan:
    v = ctx.profile.target.vantages[name]
    address = ctx.profile.target.addresses.get(v.address, v.address)
    try:
        data = run_scanner(["ip", "netns", "exec", v.netns],
                           ["--address", address, "--ports", "1-65535", "--timeout", str(ctx.profile.target.scan_timeout_s)],
                           timeout=120)
    except RuntimeError as e:
        return VantageScan(netns=v.netns, address=address, open_ports=[], error=str(e))
    ports = sorted(int(s.rsplit(":", 1)[1]) for s in data["open"])  # type: ignore[union-attr]
    return VantageScan(netns=v.netns, address=address, open_ports=ports, scanned=int(data["scanned"]),  # type: ignore[arg-type]
                       closed=int(data["closed"]), filtered=int(data["filtered"]),  # type: ignore[arg-type]
                       duration_s=float(data["duration_s"]))  # type: ignore[arg-type]


def _loophole_probe(ctx: Context, name: str, rules: list[str], targets: dict[str, list[tuple[str, int]]]) -> Loophole:
    v = ctx.profile.target.vantages[name]
    iface = v.interface or ""
    mine = [r for r in rules if f"-i {iface} " in r + " "] if iface else []
    out = Loophole(interface=iface, rules=mine, drops_non_dnat=drops_non_dnat(rules, iface) if iface else False)
    via = ctx.profile.target.addresses.get(v.address, v.address)
    if not os.path.exists(f"/run/netns/{v.netns}"):
        out.error = f"cannot reach the {name} vantage point: network namespace {v.netns} does not exist"
        return out
    pairs = [(svc, ip, port) for svc, lst in sorted(targets.items()) for ip, port in lst]
    if not pairs:
        return out
    added: list[str] = []
    try:
        for ip in sorted({ip for _, ip, _ in pairs}):
            r = _sh(["ip", "-n", v.netns, "route", "replace", f"{ip}/32", "via", via])
            if r.returncode != 0:
                out.error = f"cannot add a route to {ip} in {v.netns}: {' '.join(r.stderr.split())[:200]}"
                return out
            added.append(ip)
        data = scan_in_netns(f"/run/netns/{v.netns}", [(ip, port) for _, ip, port in pairs],
                             max(ctx.profile.target.scan_timeout_s, 1.0), 1024, 60.0)
        opened = set(data["open"])  # type: ignore[arg-type]
        out.probes = [LoopholeProbe(target=f"{svc} {ip}:{port}", reachable=f"{ip}:{port}" in opened)
                      for svc, ip, port in pairs]
    except RuntimeError as e:
        out.error = str(e)
    finally:
        for ip in added:  # never leave a route behind
            _sh(["ip", "-n", v.netns, "route", "del", f"{ip}/32", "via", via])
    return out


@register
class ExposureSource(FactSource):
    live_cost = 3  # every port from each vantage point
    name = "exposure"
    model = ExposureFacts

    def static(self, ctx: Context) -> ExposureFacts:
        assert ctx.store is not None
        cf = ctx.store.get("containers")
        published = [Published(service=n, host_ip=p.host_ip, host_port=p.host_port, container_port=p.container_port)
                     for n, c in sorted(cf.containers.items()) for p in c.ports]  # type: ignore[attr-defined]
        u = Unavailable(reason=LIVE_ONLY)
        return ExposureFacts(source=f"published ports of {cf.source}", published=published,
                             scans={n: u for n in ctx.profile.target.vantages}, listeners=u,
                             loophole={n: u for n in ctx.profile.target.vantages})

    def live(self, ctx: Context) -> ExposureFacts:
        t0 = time.monotonic()
        published, targets = _published_live(ctx)
        vantages = list(ctx.profile.target.vantages)
        with ThreadPoolExecutor(max_workers=2 * len(vantages) + 1) as pool:
            scans = {n: pool.submit(meter.bind(_vantage_scan), ctx, n) for n in vantages}
            try:
                rules: list[str] | None = docker_user_rules()
                rules_error = ""
            except FactError as e:
                rules, rules_error = None, str(e)
            holes = {n: pool.submit(meter.bind(_loophole_probe), ctx, n, rules or [], targets) for n in vantages}
            listeners: list[str] | Unavailable
            try:
                from plancheck.facts.host import get_host

                listeners = parse_listeners(get_host(ctx).socket.get_listening_sockets())
            except Exception as e:
                raise FactError(f"exposure: cannot list the host's listening sockets: {e}".splitlines()[0]) from None
            loophole: dict[str, Loophole | Unavailable] = {}
            for n, f in holes.items():
                lh = f.result()
                if rules is None:
                    lh.error = rules_error
                loophole[n] = lh
            scan_results: dict[str, VantageScan | Unavailable] = {n: f.result() for n, f in scans.items()}
        return ExposureFacts(source="vantage namespaces, docker inspect, testinfra, iptables", scans=scan_results,
                             published=published, listeners=listeners, loophole=loophole,
                             duration_s=round(time.monotonic() - t0, 3))
