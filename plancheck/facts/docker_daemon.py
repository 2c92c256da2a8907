"""Docker host and daemon facts (beyond the plan: CIS Docker Benchmark sections 1-3, numbered as
docker-bench-security 1.6 numbers them).

static: the desired daemon.json (target.config_files key `docker_daemon.config`); everything only the
        running daemon or the host shows (docker info, dockerd's command line, mounts, auditd rules,
        file modes) is Unavailable(kind="mode").
live:   `docker info` and `docker version` through the Docker SDK, dockerd's command line (its pid
        found by /proc/*/comm), the daemon.json it reads (--config-file, else /etc/docker/daemon.json),
        the mount of its root dir (/proc/self/mountinfo), the docker group (/etc/group), auditd's
        rules (`auditctl -l`, else /etc/audit/audit.rules and /etc/audit/rules.d/*.rules), stat() of
        the daemon's files and sockets, and whether any docker-proxy process runs.

The host is this machine: with a docker_host that is not a local unix socket, the host-side facts
are "could not tell" (kind unknown), never the compliant answer.
"""
from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, Unavailable, register

NOT_STATIC = "only observable on the Docker host (the desired state is daemon.json)"
DEFAULT_CONFIG = "/etc/docker/daemon.json"

# dockerd's boolean flags (pflag: `--icc=false`; a bare `--icc` is true) and the flags that may repeat
BOOL_FLAGS = {"icc", "iptables", "ip6tables", "ip-forward", "ip-masq", "live-restore", "userland-proxy",
              "no-new-privileges", "experimental", "tls", "tlsverify", "debug", "selinux-enabled",
              "raw-logs", "init", "validate"}
LIST_FLAGS = {"host", "insecure-registry", "authorization-plugin", "default-ulimit", "storage-opt",
              "log-opt", "registry-mirror", "dns", "label", "exec-opt", "add-runtime"}
SHORT = {"H": "host", "l": "log-level", "D": "debug", "s": "storage-driver", "G": "group", "b": "bridge",
         "g": "data-root", "p": "pidfile"}
# the daemon.json key of each list flag
CONFIG_KEY = {"host": "hosts", "insecure-registry": "insecure-registries", "authorization-plugin":
              "authorization-plugins", "default-ulimit": "default-ulimits", "storage-opt": "storage-opts",
              "log-opt": "log-opts", "registry-mirror": "registry-mirrors"}

# systemd unit directories, in the order docker-bench's get_service_file looks (then /run)
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


class FileStat(BaseModel):
    path: str
    kind: str = "file"  # file, dir, socket, other
    owner: str = ""  # user name (the uid where it has no name)
    group: str = ""
    mode: str = ""  # octal permission bits, e.g. "644" (setuid/setgid/sticky shown as a 4th digit)


class RootMount(BaseModel):
    """The mount that holds the daemon's root dir (CIS 1.1.1)."""
    root_dir: str
    mount_point: str  # the longest mount point above (or at) root_dir
    device: str  # major:minor of that mount
    source: str  # what is mounted there (/dev/vda, tmpfs, ...)
    fs_root: str  # the part of the source file system mounted there ("/" for a whole file system)
    host_root_device: str  # major:minor of the mount at /

    @property
    def separate(self) -> bool:
        """A file system of its own: mounted at the root dir itself, from another device than /."""
        return self.mount_point == self.root_dir and self.device != self.host_root_device


class AuditRules(BaseModel):
    source: str  # "auditctl -l", the rules files read, or why there are none
    rules: list[str]  # rule lines (comments and blanks dropped)


class DockerDaemonFacts(Facts):
    config_path: str = ""  # the daemon.json read ("" when the daemon has none: defaults apply)
    config: dict[str, Any] = {}
    cmdline: Union[list[str], Unavailable] = Unavailable(reason=NOT_STATIC)  # dockerd's arguments
    info: Union[dict[str, Any], Unavailable] = Unavailable(reason=NOT_STATIC)  # docker info (the API's)
    experimental: Union[bool, Unavailable] = Unavailable(reason=NOT_STATIC)  # docker version: Server.Experimental
    root_mount: Union[RootMount, Unavailable] = Unavailable(reason=NOT_STATIC)  # 1.1.1
    docker_group: Union[list[str], Unavailable] = Unavailable(reason=NOT_STATIC)  # 1.1.2
    audit: Union[AuditRules, Unavailable] = Unavailable(reason=NOT_STATIC)  # 1.1.3-1.1.18
    # audit watch / file rule key -> the host path it resolves to ("" when nothing is there)
    paths: Union[dict[str, str], Unavailable] = Unavailable(reason=NOT_STATIC)
    files: Union[dict[str, list[FileStat]], Unavailable] = Unavailable(reason=NOT_STATIC)  # 3.x
    proxy_processes: Union[int, Unavailable] = Unavailable(reason=NOT_STATIC)  # running docker-proxy

    # -- the effective value of a daemon setting: command line, then daemon.json, then None --------
    def flags(self) -> dict[str, list[str]]:
        return parse_cmdline(self.cmdline if isinstance(self.cmdline, list) else [])

    def setting(self, name: str) -> tuple[Any, str]:
        """(value, where it was set) for dockerd option `name` (long flag name): the command line wins
        over daemon.json (dockerd refuses a key set in both); (None, "not set") when neither sets it.
        List options collect both."""
        flags = self.flags()
        key = CONFIG_KEY.get(name, name)
        where = self.config_path or "daemon.json"
        if name in LIST_FLAGS:
            values = list(flags.get(name, []))
            conf = self.config.get(key)
            if isinstance(conf, dict):
                values += [f"{k}={v}" for k, v in conf.items()]
            elif isinstance(conf, list):
                values += [str(v) for v in conf]
            elif conf not in (None, ""):
                values.append(str(conf))
            src = " and ".join(s for s, ok in (("dockerd command line", name in flags),
                                               (where, conf not in (None, "", [], {}))) if ok)
            return (values, src) if values else ([], "not set")
        if name in flags:
            raw = flags[name][-1]
            if name in BOOL_FLAGS:
                return raw.lower() not in ("false", "0"), "dockerd command line"
            return raw, "dockerd command line"
        if key in self.config:
            return self.config[key], where
        return None, "not set"


def parse_cmdline(args: list[str]) -> dict[str, list[str]]:
    """dockerd's arguments -> {long flag name: [values]} (a bare boolean flag is "true")."""
    out: dict[str, list[str]] = {}
    i = 0
    rest = args[1:] if args and not args[0].startswith("-") else args
    while i < len(rest):
        a = rest[i]
        i += 1
        if not a.startswith("-") or a in ("-", "--"):
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if not a.startswith("--"):
            name = SHORT.get(name[:1], name)
            if not eq and len(a) > 2:  # -Htcp://... / -linfo
                value, eq = a[2:], "="
        if not eq:
            if name in BOOL_FLAGS or name == "debug":
                value = "true"
            elif i < len(rest):
                value = rest[i]
                i += 1
        out.setdefault(name, []).append(value)
    return out


# --- parsers (plain functions: unit-tested without a host) ----------------------------------------
def parse_mountinfo(text: str, root_dir: str) -> RootMount:
    """The mount holding `root_dir` (the longest mount point above or at it; the last one mounted
    there wins) and the device of /."""
    best: Optional[list[str]] = None
    root_dev = ""
    root_dir = os.path.normpath(root_dir)
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        f = left.split()
        if not sep or len(f) < 5:
            continue
        point = f[4].replace("\\040", " ")
        if point == "/":
            root_dev = f[2]
        inside = root_dir == point or root_dir.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[4])):
            best = f + right.split()[:2]
    if best is None:
        raise FactError(f"docker host: no mount holds {root_dir} in /proc/self/mountinfo")
    return RootMount(root_dir=root_dir, mount_point=best[4], device=best[2], fs_root=best[3],
                     source=best[-1] if len(best) > 6 else "", host_root_device=root_dev)


def parse_group(text: str, name: str = "docker") -> Optional[list[str]]:
    """Members of group `name` in /etc/group; None when there is no such group."""
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 4 and f[0] == name:
            return [m for m in f[3].strip().split(",") if m]
    return None


def rule_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("#", ";"))]


def watches(rules: list[str], path: str) -> bool:
    """A rule watches exactly `path` (`-w PATH`, `-F path=PATH`, `-F dir=PATH`). docker-bench greps for
    the path anywhere in the line, so a rule for a path below it counts there; here it does not."""
    for r in rules:
        tokens = r.split()
        for i, t in enumerate(tokens):
            if t == "-w" and i + 1 < len(tokens) and tokens[i + 1] == path:
                return True
            if t in (f"path={path}", f"dir={path}"):
                return True
    return False


def mode_beyond(mode: str, allowed: str) -> int:
    """The permission bits set in `mode` that `allowed` does not allow (0: no more permissive).
    docker-bench compares the octal digits as a decimal number (622 <= 644 passes there); here a
    bit beyond the allowed ones fails (622 has group and other write)."""
    return int(mode or "0", 8) & ~int(allowed, 8) & 0o7777


# --- static ----------------------------------------------------------------------------------------
def _load_config(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise FactError(f"docker daemon: {where} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise FactError(f"docker daemon: {where}: expected a JSON object")
    return data


# --- live ------------------------------------------------------------------------------------------
def _dockerd_cmdline(proc: Path = Path("/proc")) -> tuple[list[str] | Unavailable, str]:
    """dockerd's arguments and its working directory (a relative --config-file is read from there)."""
    for p in proc.glob("[0-9]*"):
        try:
            if (p / "comm").read_text().strip() == "dockerd":
                args = (p / "cmdline").read_bytes().split(b"\0")
                try:
                    cwd = os.readlink(p / "cwd")
                except OSError:
                    cwd = "/"
                return [a.decode(errors="replace") for a in args if a], cwd
        except OSError:
            continue
    return Unavailable(reason="no dockerd process visible in /proc (another PID namespace or host?)",
                       kind="unknown"), "/"


def _running(name: str, proc: Path = Path("/proc")) -> int:
    n = 0
    for p in proc.glob("[0-9]*"):
        try:
            n += (p / "comm").read_text().strip() == name
        except OSError:
            continue
    return n


def _unit(name: str) -> str:
    for d in UNIT_DIRS:
        if os.path.isfile(f"{d}/{name}"):
            return f"{d}/{name}"
    return ""


def _stat(path: str) -> FileStat:
    st = os.stat(path)
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else \
        "file" if stat.S_ISREG(st.st_mode) else "other"
    return FileStat(path=path, kind=kind, owner=owner, group=group, mode=format(stat.S_IMODE(st.st_mode), "o"))


def resolve_paths(keys: list[str], config: dict[str, Any], flags: dict[str, list[str]], config_path: str,
                  exists: Any = os.path.exists, which: Any = shutil.which) -> dict[str, str]:
    """Audit watch and file rule keys -> host paths ("" when not there). A binary the CIS list names in
    /usr/bin that this host installs elsewhere (Debian: /usr/sbin/dockerd) is audited where it is;
    docker-bench looks for the /usr/bin path only (and warns when no rule names it)."""
    out: dict[str, str] = {}
    for key in keys:
        if key in ("docker.service", "docker.socket"):
            out[key] = _unit(key)
        elif key == "containerd.sock":
            out[key] = "/run/containerd/containerd.sock" if exists("/run/containerd/containerd.sock") else ""
        elif key == "docker.sock":
            out[key] = "/var/run/docker.sock" if exists("/var/run/docker.sock") else ""
        elif key in ("daemon.json", DEFAULT_CONFIG):  # the file the daemon reads (--config-file counts)
            out[key] = config_path
        elif key == "certs.d":
            out[key] = "/etc/docker/certs.d" if exists("/etc/docker/certs.d") else ""
        elif key in ("tlscacert", "tlscert", "tlskey"):
            value = (flags.get(key) or [None])[-1] or config.get(key) or ""
            out[key] = str(value) if value and exists(str(value)) else ""
        elif exists(key):
            out[key] = key
        elif key.startswith(("/usr/bin/", "/usr/sbin/")):  # the binary where this host installs it
            found = which(os.path.basename(key))
            out[key] = found if found and exists(found) else ""
        else:
            out[key] = ""
    return out


def _audit_rules() -> AuditRules:
    auditctl = shutil.which("auditctl")
    if auditctl:
        r = subprocess.run([auditctl, "-l"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            return AuditRules(source="auditctl -l", rules=rule_lines(r.stdout))
        why = (r.stderr or r.stdout).strip().splitlines()[:1]
        if not os.path.exists("/etc/audit"):
            raise FactError(f"docker host: auditctl -l failed: {why[0] if why else r.returncode}")
    files = sorted(glob.glob("/etc/audit/rules.d/*.rules")) + \
        (["/etc/audit/audit.rules"] if os.path.isfile("/etc/audit/audit.rules") else [])
    if not files:
        return AuditRules(source="no auditctl and no /etc/audit rules files (auditd not installed)", rules=[])
    rules: list[str] = []
    for f in files:
        try:
            rules += rule_lines(Path(f).read_text(encoding="utf-8", errors="replace"))
        except OSError as e:
            raise FactError(f"docker host: cannot read {f}: {e.strerror}") from None
    return AuditRules(source=", ".join(files), rules=rules)


INFO_KEYS = ("Driver", "LoggingDriver", "CgroupDriver", "CgroupVersion", "DockerRootDir", "LiveRestoreEnabled",
             "SecurityOptions", "Plugins", "RegistryConfig", "ExperimentalBuild", "ServerVersion", "Swarm")


@register
class DockerDaemonSource(FactSource):
    name = "docker_daemon"
    model = DockerDaemonFacts

    def _config_files(self, ctx: Context) -> list[str]:
        key = ctx.profile.docker_daemon.config
        files = ctx.profile.target.config_files.get(key)
        if not files:
            raise FactError(f"docker daemon: the profile names no desired daemon.json "
                            f"(target.config_files.{key})")
        return files

    def static(self, ctx: Context) -> DockerDaemonFacts:
        path = self._config_files(ctx)[0]
        return DockerDaemonFacts(source=path, config_path=path, config=_load_config(ctx.read_text(path), path))

    def live(self, ctx: Context) -> DockerDaemonFacts:
        from plancheck.facts.containers import docker_client

        client = docker_client(ctx)
        try:
            info = client.info()
            version = client.version()
        except Exception as e:  # docker.errors.*, requests timeouts: one line
            raise FactError(f"docker daemon {ctx.profile.target.docker_host}: docker info failed: "
                            f"{str(e).splitlines()[0][:200]}") from None
        info = {k: info.get(k) for k in INFO_KEYS}
        experimental = bool(version.get("Experimental", False))
        host = ctx.profile.target.docker_host
        if not host.startswith("unix://"):
            far = Unavailable(reason=f"the daemon at {host} is not on this host: its host files cannot be read",
                              kind="unknown")
            return DockerDaemonFacts(source=f"docker info ({host})", info=info, experimental=experimental,
                                     cmdline=far, root_mount=far, docker_group=far, audit=far, paths=far,
                                     files=far, proxy_processes=far)
        cmdline, cwd = _dockerd_cmdline()
        flags = parse_cmdline(cmdline if isinstance(cmdline, list) else [])
        conf_arg = (flags.get("config-file") or [""])[-1]
        conf_arg = os.path.join(cwd, conf_arg) if conf_arg else ""
        config_path = conf_arg or (DEFAULT_CONFIG if os.path.isfile(DEFAULT_CONFIG) else "")
        config: dict[str, Any] = {}
        if config_path:
            try:
                config = _load_config(Path(config_path).read_text(encoding="utf-8"), config_path)
            except OSError as e:
                raise FactError(f"docker daemon: cannot read {config_path}: {e.strerror}") from None
        root_dir = str(info.get("DockerRootDir") or "/var/lib/docker")
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
            group_text = Path("/etc/group").read_text()
        except OSError as e:
            raise FactError(f"docker host: cannot read {e.filename}: {e.strerror}") from None
        mount = parse_mountinfo(mountinfo, root_dir)
        members = parse_group(group_text)
        dd = ctx.profile.docker_daemon
        paths = resolve_paths(sorted(set(dd.audit_watches.values()) | set(dd.files)), config, flags, config_path)
        files: dict[str, list[FileStat]] = {}
        for key in dd.files:
            p = paths.get(key, "")
            if not p:
                files[key] = []
            elif key == "certs.d":
                files[key] = [_stat(f) for f in sorted(glob.glob(f"{p}/**/*.crt", recursive=True))]
            else:
                files[key] = [_stat(p)]
        return DockerDaemonFacts(
            source=f"docker info ({host}), dockerd {' '.join(cmdline) if isinstance(cmdline, list) else '?'}, "
                   f"{config_path or 'no daemon.json'}",
            config_path=config_path, config=config, cmdline=cmdline, info=info, experimental=experimental,
            root_mount=mount, docker_group=members if members is not None else [],
            audit=_audit_rules(), paths=paths, files=files, proxy_processes=_running("docker-proxy"))
