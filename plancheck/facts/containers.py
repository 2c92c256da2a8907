"""Container facts: the compose project after interpolation and merge (static), or one docker
inspect per container of the compose project (live). Same model either way."""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import subprocess
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.units import parse_size


class Mount(BaseModel):
    source: str
    target: str
    type: str = "bind"
    read_only: bool = False


class PublishedPort(BaseModel):
    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"


class ContainerFacts(BaseModel):
    name: str
    image: str
    running: Union[bool, Unavailable]
    health: Union[str, Unavailable]  # healthy / unhealthy / starting / none
    memory: Optional[int]
    cpus: Optional[float]
    pids_limit: Optional[int]
    restart: Optional[str]
    privileged: bool
    cap_add: list[str]
    cap_drop: list[str]
    no_new_privileges: bool
    seccomp_unconfined: bool
    read_only: bool
    user: str
    network_mode: str
    pid_mode: str
    ipc_mode: str
    uts_mode: str
    userns_mode: str
    mounts: list[Mount]
    devices: list[str]
    log_driver: str
    log_opts: dict[str, str]
    networks: list[str]
    addresses: dict[str, str] = {}  # network -> IP (live only)
    ports: list[PublishedPort]
    healthcheck: bool
    gpu_device_ids: Optional[list[str]]  # None: no GPU request at all
    runtime: Optional[str]
    env_visible_devices: Optional[str]
    compose_profiles: list[str] = []


class NetworkFacts(BaseModel):
    name: str
    internal: bool
    # who is attached: compose service names for the project's containers, container names for any
    # other (one started by hand, another project's): whatever its labels, it is on the zone network
    members: list[str] = []


class ContainersFacts(Facts):
    project: str
    containers: dict[str, ContainerFacts]
    networks: dict[str, NetworkFacts]
    # every other container on the host (not of the compose project), "name (image)"; only a running
    # engine can say, so the desired state cannot
    foreign: Union[list[str], Unavailable] = Unavailable(reason="no static source: only the Docker engine "
                                                         "knows the other containers on the host")


def _caps(values: Any) -> list[str]:
    return sorted({str(v).upper().removeprefix("CAP_") for v in (values or [])})


def _nnp(security_opt: list[str]) -> bool:
    return any(o.replace("=", ":") in ("no-new-privileges", "no-new-privileges:true") for o in security_opt)


def _seccomp_unconfined(security_opt: list[str]) -> bool:
    return any(o.replace("=", ":") == "seccomp:unconfined" for o in security_opt)


# --- static: docker-compose config -------------------------------------------------------------
def compose_command(ctx: Context) -> tuple[list[str], dict[str, str]]:
    t = ctx.profile.target.compose
    exe = shutil.which("docker-compose")
    if not exe:
        raise FactError("cannot read the compose project: docker-compose is not installed")
    cmd = [exe, "--project-directory", str(ctx.path(t.project_dir)), "-p", t.project_name]
    env: dict[str, str] = {}
    for name in t.env_files:  # later files win; a missing one (images not built yet) is skipped
        path = ctx.path(t.project_dir) / name
        if path.is_file():
            env.update(_read_env_file(path))
    for f in t.files:
        cmd += ["-f", str(ctx.path(t.project_dir) / f)]
    for p in t.profiles:
        cmd += ["--profile", p]
    return cmd, env


def _read_env_file(path: Any) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"').strip("'")
    return out


def compose_config(ctx: Context) -> dict[str, Any]:
    """The merged, interpolated compose project: `docker-compose config`, run once per content of its
    inputs (plancheck.facts.compose_cache keys the answer by every file, variable and the version).
    The dict is shared by every reader of the same project in this process: read-only."""
    from plancheck.facts import compose_cache

    cmd, env = compose_command(ctx)
    cmd = cmd + ["config"]
    # the env files of the profile, not the caller's environment, decide the interpolation
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANCHECK_", "COMPOSE_"))}
    run_env = {**base_env, **env}

    def run() -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=run_env)
        except subprocess.TimeoutExpired:
            raise FactError("docker-compose config timed out after 60 s") from None
        if out.returncode != 0:
            err = " ".join(out.stderr.strip().split())
            raise FactError(f"docker-compose config failed for {ctx.profile.target.compose.project_dir}: {err[:300]}")
        return out.stdout

    t = ctx.profile.target.compose
    pdir = ctx.path(t.project_dir)
    text = compose_cache.config_output(cmd, run_env, pdir, [pdir / f for f in t.files], run, ctx.env,
                                       extra_files=[pdir / f for f in t.env_files])
    # parsed once per run for containers and backup both (shared: read it, do not change it)
    data = compose_cache.load(text)
    if not isinstance(data, dict) or "services" not in data:
        raise FactError("docker-compose config printed no services")
    return data


def _port(p: Any) -> list[PublishedPort]:
    if isinstance(p, dict):
        if not p.get("published"):
            return []
        return [PublishedPort(host_ip=str(p.get("host_ip") or "0.0.0.0"), host_port=int(p["published"]),
                              container_port=int(p["target"]), protocol=p.get("protocol", "tcp"))]
    text, proto = (str(p).split("/") + ["tcp"])[:2]
    parts = text.rsplit(":", 2)
    if len(parts) == 1:
        return []  # exposed only, not published
    if len(parts) == 2:
        parts = ["0.0.0.0"] + parts
    return [PublishedPort(host_ip=parts[0] or "0.0.0.0", host_port=int(parts[1]),
                          container_port=int(parts[2]), protocol=proto)]


def _volume(v: Any, named: set[str]) -> Mount:
    if isinstance(v, dict):
        src = str(v.get("source", ""))
        return Mount(source=src, target=str(v["target"]), type=v.get("type", "volume"),
                     read_only=bool(v.get("read_only", False)))
    parts = str(v).split(":")
    src, dst = (parts + [""])[:2] if len(parts) > 1 else ("", parts[0])
    mode = parts[2] if len(parts) > 2 else "rw"
    kind = "volume" if src in named or (src and not src.startswith(("/", "."))) else "bind"
    return Mount(source=src, target=dst, type=kind if src else "volume", read_only="ro" in mode.split(","))


def _static_container(name: str, s: dict[str, Any], named_volumes: set[str]) -> ContainerFacts:
    so = [str(x) for x in s.get("security_opt", [])]
    log = s.get("logging") or {}
    nets = s.get("networks") or ({} if s.get("network_mode") else {"default": None})
    gpu_ids: Optional[list[str]] = None
    for dev in (((s.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []:
        if "gpu" in (dev.get("capabilities") or []) or dev.get("driver") == "nvidia":
            gpu_ids = (gpu_ids or []) + [str(i) for i in dev.get("device_ids") or []]
    env = s.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env if "=" in e)
    mem = s.get("mem_limit") or (((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get("memory")
    cpus = s.get("cpus") or (((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get("cpus")
    hc = s.get("healthcheck") or {}
    reason = "no static source: only a running container has a state"
    return ContainerFacts(
        name=name, image=str(s.get("image", "")),
        running=Unavailable(reason=reason), health=Unavailable(reason=reason),
        memory=parse_size(str(mem)) if mem else None,
        cpus=float(cpus) if cpus else None,
        pids_limit=int(s["pids_limit"]) if s.get("pids_limit") else None,
        restart=s.get("restart"),
        privileged=bool(s.get("privileged", False)),
        cap_add=_caps(s.get("cap_add")), cap_drop=_caps(s.get("cap_drop")),
        no_new_privileges=_nnp(so), seccomp_unconfined=_seccomp_unconfined(so),
        read_only=bool(s.get("read_only", False)),
        user=str(s.get("user", "") or ""),
        network_mode=str(s.get("network_mode", "bridge")),
        pid_mode=str(s.get("pid", "") or ""), ipc_mode=str(s.get("ipc", "") or ""),
        uts_mode=str(s.get("uts", "") or ""), userns_mode=str(s.get("userns_mode", "") or ""),
        mounts=[_volume(v, named_volumes) for v in s.get("volumes") or []],
        devices=[str(d) for d in s.get("devices") or []],
        log_driver=str(log.get("driver", "json-file")),
        log_opts={k: str(v) for k, v in (log.get("options") or {}).items()},
        networks=sorted(nets if isinstance(nets, (dict, list)) else []),
        ports=[pp for p in s.get("ports") or [] for pp in _port(p)],
        healthcheck=bool(hc.get("test")) and not hc.get("disable", False),
        gpu_device_ids=gpu_ids, runtime=s.get("runtime"),
        env_visible_devices=env.get("NVIDIA_VISIBLE_DEVICES"),
        compose_profiles=list(s.get("profiles") or []),
    )


# --- live: docker SDK ----------------------------------------------------------------------------
def docker_client(ctx: Context) -> Any:
    import docker

    url = docker_url(ctx)
    try:
        # ssh:// (a fleet host's engine): paramiko, with the user's ssh config and agent
        client = docker.DockerClient(base_url=url, timeout=ctx.timeout)
        meter.count_session(client.api)  # each API call: one round trip of the source reading it
        client.ping()
        return client
    except Exception as e:  # DockerException, and paramiko's SSHException / socket errors for ssh://
        where = f" ({ctx.member.name}, group {ctx.member.group})" if ctx.member is not None else ""
        raise FactError(f"cannot reach the docker engine at {url}{where}: "
                        f"{(str(e) or type(e).__name__).splitlines()[0][:200]}") from None


def docker_url(ctx: Context) -> str:
    """The engine to read: a fleet host's ssh:// endpoint, else target.docker_host."""
    return ctx.member.docker_url if ctx.member is not None else ctx.profile.target.docker_host


def runs_docker(ctx: Context) -> None:
    """A fleet host whose role the profile marks without Docker has no engine to read: absent, with
    that reason (skipped), never an error; a role marked with Docker that does not answer is an error."""
    m = ctx.member
    if m is not None and not m.docker:
        raise NoSource(f"{m.name}: group {m.group} runs no Docker (target.fleet.groups.{m.group}.docker: false): "
                       "its container facts cannot exist there")


def _live_container(ins: dict[str, Any]) -> ContainerFacts:
    cfg, hc, st, ns = ins["Config"], ins["HostConfig"], ins["State"], ins["NetworkSettings"]
    labels = cfg.get("Labels") or {}
    so = hc.get("SecurityOpt") or []
    cpus = hc.get("NanoCpus") and hc["NanoCpus"] / 1e9 or (
        hc.get("CpuQuota") and hc.get("CpuPeriod") and hc["CpuQuota"] / hc["CpuPeriod"]) or None
    ports = []
    for spec, bindings in (ns.get("Ports") or {}).items():
        cport, proto = spec.split("/")
        for b in bindings or []:  # None: exposed but not published (e.g. on an internal-only network)
            ports.append(PublishedPort(host_ip=b.get("HostIp") or "0.0.0.0", host_port=int(b["HostPort"]),
                                       container_port=int(cport), protocol=proto))
    gpu_ids: Optional[list[str]] = None
    for req in hc.get("DeviceRequests") or []:
        if req.get("Driver") == "nvidia" or any("gpu" in c for c in req.get("Capabilities") or []):
            gpu_ids = (gpu_ids or []) + list(req.get("DeviceIDs") or (["all"] if req.get("Count") == -1 else []))
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
    restart = (hc.get("RestartPolicy") or {}).get("Name") or None
    if restart == "on-failure" and hc["RestartPolicy"].get("MaximumRetryCount"):
        restart = f"on-failure:{hc['RestartPolicy']['MaximumRetryCount']}"
    health = (st.get("Health") or {}).get("Status", "none")
    nets = {}
    for net_name, net in (ns.get("Networks") or {}).items():
        nets[net_name] = net.get("IPAddress") or ""
    project = labels.get("com.docker.compose.project", "")
    logical = {n: n.removeprefix(f"{project}_") for n in nets}
    test = (cfg.get("Healthcheck") or {}).get("Test") or []
    return ContainerFacts(
        name=labels.get("com.docker.compose.service", ins["Name"].lstrip("/")),
        image=cfg.get("Image", ""),
        running=bool(st.get("Running")), health=health,
        memory=hc.get("Memory") or None, cpus=cpus, pids_limit=hc.get("PidsLimit") or None,
        restart=restart, privileged=bool(hc.get("Privileged")),
        cap_add=_caps(hc.get("CapAdd")), cap_drop=_caps(hc.get("CapDrop")),
        no_new_privileges=_nnp(so), seccomp_unconfined=_seccomp_unconfined(so),
        read_only=bool(hc.get("ReadonlyRootfs")), user=cfg.get("User") or "",
        network_mode=hc.get("NetworkMode") or "default",
        pid_mode=hc.get("PidMode") or "", ipc_mode=hc.get("IpcMode") or "",
        uts_mode=hc.get("UTSMode") or "", userns_mode=hc.get("UsernsMode") or "",
        mounts=[Mount(source=m.get("Name") or m.get("Source", ""), target=m["Destination"],
                      type=m.get("Type", "bind"), read_only=not m.get("RW", True)) for m in ins.get("Mounts") or []],
        devices=[d.get("PathOnHost", "") for d in hc.get("Devices") or []],
        log_driver=(hc.get("LogConfig") or {}).get("Type", ""),
        log_opts={k: str(v) for k, v in ((hc.get("LogConfig") or {}).get("Config") or {}).items()},
        networks=sorted(logical.values()), addresses={logical[k]: v for k, v in nets.items()},
        ports=sorted(ports, key=lambda p: (p.host_port, p.host_ip)),
        healthcheck=bool(test) and test != ["NONE"],
        gpu_device_ids=gpu_ids, runtime=hc.get("Runtime"),
        env_visible_devices=env.get("NVIDIA_VISIBLE_DEVICES"),
    )


@register
class ContainersSource(FactSource):
    name = "containers"
    model = ContainersFacts

    def static(self, ctx: Context) -> ContainersFacts:
        runs_docker(ctx)
        data = compose_config(ctx)
        named = set((data.get("volumes") or {}).keys())
        t = ctx.profile.target.compose
        containers = {n: _static_container(n, s, named) for n, s in data["services"].items()}
        return ContainersFacts(
            source=f"docker-compose config ({', '.join(t.files)})", project=t.project_name,
            containers=containers,
            networks={n: NetworkFacts(name=n, internal=bool((v or {}).get("internal", False)),
                                      members=sorted(c for c, f in containers.items() if n in f.networks))
                      for n, v in (data.get("networks") or {}).items()},
        )

    def live(self, ctx: Context) -> ContainersFacts:
        runs_docker(ctx)
        client = docker_client(ctx)
        project = ctx.profile.target.compose.project_name
        flt = {"label": f"com.docker.compose.project={project}"}
        label = "com.docker.compose.project"
        try:
            found = {}
            foreign = []
            service_of: dict[str, str] = {}  # container id -> compose service
            for c in client.api.containers(all=True):  # every container on the host, whatever its labels
                if (c.get("Labels") or {}).get(label) != project:
                    foreign.append(f"{(c.get('Names') or ['?'])[0].lstrip('/')} ({c.get('Image', '?')})")
                    continue
                facts = _live_container(client.api.inspect_container(c["Id"]))
                found[facts.name] = facts
                service_of[c["Id"]] = facts.name
            networks = {}
            for n in client.api.networks(filters=flt):
                ins = client.api.inspect_network(n["Id"])
                logical = (ins.get("Labels") or {}).get("com.docker.compose.network") or n["Name"]
                members = sorted(service_of.get(cid) or str(m.get("Name", cid[:12]))
                                 for cid, m in (ins.get("Containers") or {}).items())
                networks[logical] = NetworkFacts(name=logical, internal=bool(ins.get("Internal")), members=members)
        except Exception as e:  # docker.errors.* and requests timeouts: one line
            raise FactError(f"docker engine at {docker_url(ctx)}: {str(e).splitlines()[0][:200]}") from None
        finally:
            client.close()
        return ContainersFacts(source=f"docker inspect ({docker_url(ctx)})",
                               project=project, containers=found, networks=networks, foreign=sorted(foreign))


def find_service(client: Any, ctx: Context, service: str) -> dict[str, Any]:
    """docker inspect of the running container of a compose service (one call, read-only)."""
    flt = {"label": [f"com.docker.compose.project={ctx.profile.target.compose.project_name}",
                     f"com.docker.compose.service={service}"]}
    found = client.api.containers(filters=flt)
    if not found:
        raise FactError(f"cannot reach {service}: the container is not running")
    return client.api.inspect_container(found[0]["Id"])


def archive_text(client: Any, cid: str, path: str) -> str:
    """A file of a running container through the archive API: no exec, nothing written. Bind mounts
    and volumes are readable this way, tmpfs mounts are not."""
    from docker.errors import NotFound

    try:
        stream, _ = client.api.get_archive(cid, path)
    except NotFound:
        raise FactError(f"cannot read {path} in container {cid[:12]}: not found (a tmpfs mount cannot be "
                        "read through the docker API)") from None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        f = tar.extractfile(tar.getmembers()[0])
        return f.read().decode() if f else ""


def read_container_file(ctx: Context, service: str, path: str) -> str:
    """A file from the running container of a compose service."""
    client = docker_client(ctx)
    try:
        return archive_text(client, find_service(client, ctx, service)["Id"], path)
    finally:
        client.close()


# --- a service's version from the desired state: its image tag -----------------------------------
_TAG_VERSION = __import__("re").compile(r"^v?(\d+\.\d+(?:\.\d+)?)(?:[-_.+].*)?$")


def image_version(ctx: Context, service: str) -> tuple[Union[str, Unavailable], str]:
    """The version the image tag of a compose service names (`mariadb:10.6` -> "10.6") in the
    compose project the profile names (all its files merged, as docker-compose deploys it), and
    where it was read. A tag that names no version (a locally built `plancheck/mariadb:5dea...`)
    cannot tell: only the running server knows (skipped in static mode)."""
    if ctx.store is None:  # a source read on its own (tests): no compose project at hand
        return Unavailable(reason="the compose project was not read", kind="unknown"), ""
    try:
        facts = ctx.store.get("containers")
    except FactError as e:
        return Unavailable(reason=f"cannot read the compose project: {e}", kind="unknown"), ""
    c = facts.containers.get(service)  # type: ignore[attr-defined]
    if c is None:
        return Unavailable(reason=f"no service {service} in {facts.source}", kind="unknown"), ""
    ref = c.image.split("@", 1)[0]
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""
    where = f"image {c.image} of service {service} ({', '.join(ctx.profile.target.compose.files)})"
    m = _TAG_VERSION.match(tag)
    if not m:
        return Unavailable(reason=f"the image tag of {where} names no version: only the running server knows"), where
    return m.group(1), where
