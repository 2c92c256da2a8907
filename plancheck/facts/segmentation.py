"""2.1/4.1 zone segmentation: which services answer on which ports from inside each container.

The profile's `security.segmentation` turns into a matrix of (source container, destination:port)
pairs: `required` (an allowed flow the platform needs: must answer), `forbidden` (no flow allows
it: must not answer) and `tolerated` (members of one Docker network; neither).

- live: from inside each running container's network namespace (a thread of the audit joins it with
  setns(2) and runs plancheck.scan there; the container is never exec'd into or changed) a connect
  probe to every destination's addresses on its service ports;
- static: the compose project's desired state: a pair answers when the two containers share a
  network (that is all Docker's bridge networks decide).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, register
from plancheck.profile.models import Profile
from plancheck.scan import scan_in_netns

Kind = Literal["required", "forbidden", "tolerated"]


def members(profile: Profile, selector: str) -> set[str]:
    if selector.startswith("zone:"):
        return {n for n, c in profile.containers.items() if c.zone == selector[5:]}
    if selector.startswith("net:"):
        return {n for n in profile.containers if selector[4:] in profile.container_networks(n)}
    return {selector}


def matrix(profile: Profile) -> list[tuple[str, str, int, Kind]]:
    """Every (source, destination, port) pair with its kind, sources and destinations from the profile."""
    seg = profile.security.segmentation
    if seg is None:
        return []
    out: list[tuple[str, str, int, Kind]] = []
    sets: dict[str, set[str]] = {}  # selector -> its members, worked out once per matrix (not per pair)

    def union(selectors: list[str]) -> set[str]:
        found: set[str] = set()
        for s in selectors:
            if s not in sets:
                sets[s] = members(profile, s)
            found |= sets[s]
        return found

    # per flow, everything its sources and its destinations select: one set lookup per pair and flow
    # (the matrix is containers x service ports x flows; a scan of each flow's selectors per pair
    # was most of its time on a large plan)
    flows = [(flow, union(flow.sources), union(flow.to)) for flow in seg.allowed]
    # a sidecar in another container's network namespace has that container's reachability: the
    # matrix probes it once, as that container
    for src in (n for n, c in profile.containers.items() if not c.shares_network_of):
        for dst, ports in seg.service_ports.items():
            if dst == src:
                continue
            for port in ports:
                kind: Kind = "forbidden"
                for flow, sources, to in flows:
                    if flow.ports and port not in flow.ports:
                        continue
                    if src in sources and dst in to:
                        if flow.required:
                            kind = "required"
                            break
                        kind = "tolerated"
                out.append((src, dst, port, kind))
    return out


class SegmentationFacts(Facts):
    # source -> {"destination:port": answered}; only the pairs that are required or forbidden
    reachable: dict[str, dict[str, bool]]
    absent: dict[str, str]  # container -> why it is not deployed where the profile points (skip)
    down: dict[str, str] = {}  # container -> it should run but does not (the pair cannot be judged)
    method: str
    duration_s: float = 0.0


def _wanted(profile: Profile) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for src, dst, port, kind in matrix(profile):
        if kind != "tolerated":
            out.setdefault(src, []).append((dst, port))
    return out


@register
class SegmentationSource(FactSource):
    live_cost = 2  # a connect probe per flow from inside each container
    name = "segmentation"
    model = SegmentationFacts

    def static(self, ctx: Context) -> SegmentationFacts:
        if ctx.profile.security.segmentation is None:
            raise NoSource("segmentation: the profile has no security.segmentation")
        assert ctx.store is not None
        cf = ctx.store.get("containers")
        nets = {n: set(c.networks) for n, c in cf.containers.items()}  # type: ignore[attr-defined]
        reach: dict[str, dict[str, bool]] = {}
        absent = {}
        for src, pairs in _wanted(ctx.profile).items():
            for dst, port in pairs:
                for name in (src, dst):
                    if name not in nets:
                        absent[name] = f"{name} is not in the compose project ({cf.source})"
                if src in nets and dst in nets:
                    reach.setdefault(src, {})[f"{dst}:{port}"] = bool(nets[src] & nets[dst])
        return SegmentationFacts(source=cf.source, reachable=reach, absent=absent,
                                 method="desired state: a pair answers when the containers share a compose network")

    def live(self, ctx: Context) -> SegmentationFacts:
        from plancheck.facts.containers import docker_client

        seg = ctx.profile.security.segmentation
        if seg is None:
            raise NoSource("segmentation: the profile has no security.segmentation")
        t0 = time.monotonic()
        client = docker_client(ctx)
        project = ctx.profile.target.compose.project_name
        pids: dict[str, int] = {}
        ips: dict[str, list[str]] = {}
        try:
            for c in client.api.containers(filters={"label": f"com.docker.compose.project={project}"}):
                ins = client.api.inspect_container(c["Id"])
                svc = (ins["Config"].get("Labels") or {}).get("com.docker.compose.service", ins["Name"].lstrip("/"))
                if ins["State"].get("Running") and ins["State"].get("Pid"):
                    pids[svc] = int(ins["State"]["Pid"])
                    ips[svc] = [n.get("IPAddress") for n in (ins["NetworkSettings"].get("Networks") or {}).values()
                                if n.get("IPAddress")]
        except Exception as e:
            raise FactError(f"segmentation: docker engine: {str(e).splitlines()[0][:200]}") from None
        finally:
            client.close()
        absent, down = {}, {}
        for name in ctx.profile.containers:
            if name not in pids:
                spec = ctx.profile.containers[name]
                if spec.skip_live:
                    absent[name] = f"{name} is not running ({spec.skip_live})"
                else:
                    down[name] = f"cannot reach {name}: the container is not running"
        jobs = {}
        with ThreadPoolExecutor(max_workers=4) as pool:
            for src, pairs in _wanted(ctx.profile).items():
                if src not in pids:
                    continue
                targets = [(ip, port) for dst, port in pairs if dst in ips for ip in ips[dst]]
                if targets:
                    jobs[src] = pool.submit(meter.bind(scan_in_netns), f"/proc/{pids[src]}/ns/net", targets,
                                            seg.probe_timeout_s, 1024, 60.0)
            reach: dict[str, dict[str, bool]] = {}
            for src, fut in jobs.items():
                try:
                    opened = set(fut.result()["open"])  # type: ignore[arg-type]
                except RuntimeError as e:
                    raise FactError(f"segmentation: probe from {src}: {e}") from None
                reach[src] = {f"{dst}:{port}": any(f"{ip}:{port}" in opened for ip in ips[dst])
                              for dst, port in _wanted(ctx.profile)[src] if dst in ips}
        return SegmentationFacts(source=f"connect probes from inside each container's network namespace "
                                        f"(setns(2) into it, project {project})", reachable=reach, absent=absent, down=down,
                                 method="live", duration_s=round(time.monotonic() - t0, 3))
