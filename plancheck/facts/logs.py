"""Log facts (5.2): where the collector files each retention class, how long the retention job keeps
each class, and (live) the files actually kept.

static: the collector's config (rsyslog: the file paths it writes) and the retention job's config
        (logrotate) of the desired state (target.config_files keys `logs.collector.router` and
        `logs.collector.rotation`);
live:   the same files read from the running collector container, and the collector's log tree
        (<root>/<class>/...) streamed through the docker API (get_archive: names, sizes, mtimes).
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import io
import re
import shlex
import tarfile
import time
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register

PERIOD_DAYS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


class Rotation(BaseModel):
    """The logrotate rules that apply to one path pattern."""
    paths: list[str]
    rotate: Optional[int] = None  # rotated files kept (logrotate's default: 0, i.e. delete at rotation)
    maxage: Optional[int] = None  # days
    period: str = ""  # daily / weekly / ...
    size_based: bool = False  # size / maxsize: rotation (hence deletion) driven by volume, not by days
    shred: bool = False

    @property
    def retention_days(self) -> Optional[float]:
        """How long a record is kept: the earlier of maxage and `rotate` periods."""
        limits = []
        if self.maxage is not None:
            limits.append(float(self.maxage))
        if self.period:
            limits.append(float((self.rotate or 0) * PERIOD_DAYS[self.period]))
        elif self.rotate is not None and self.maxage is None:
            return None  # a count without a period: retention depends on volume
        return min(limits) if limits else None

    def describe(self) -> str:
        bits = [f"rotate {self.rotate if self.rotate is not None else 0}"]
        if self.period:
            bits.append(self.period)
        if self.maxage is not None:
            bits.append(f"maxage {self.maxage}")
        if self.size_based:
            bits.append("size-based")
        return ", ".join(bits)


class LogFile(BaseModel):
    name: str  # relative to the class directory
    bytes: int
    mtime: float


class LogsFacts(Facts):
    observed_at: float
    rotations: list[Rotation]
    rotation_source: str = ""
    outputs: list[str]  # file paths (templates) the collector writes to
    inputs: list[str] = []  # files the collector reads (imfile)
    router_source: str = ""
    files: Union[dict[str, list[LogFile]], Unavailable]  # class -> files under <root>/<class>/
    platform_since: Union[float, Unavailable]


# --- parsing -------------------------------------------------------------------------------------
def parse_logrotate(text: str, origin: str = "logrotate.conf") -> list[Rotation]:
    """logrotate syntax: global directives, then `path... { directives }` blocks inheriting them."""
    glob_: dict[str, Any] = {}
    out: list[Rotation] = []
    block: Optional[dict[str, Any]] = None
    paths: list[str] = []
    in_script = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if in_script:
            if line == "endscript":
                in_script = False
            continue
        if line in ("postrotate", "prerotate", "firstaction", "lastaction", "preremove"):
            in_script = True
            continue
        if line.endswith("{"):
            if block is not None:
                raise FactError(f"{origin}:{n}: nested block")
            paths = shlex.split(line[:-1])
            block = dict(glob_)
            continue
        if line == "}":
            if block is None:
                raise FactError(f"{origin}:{n}: '}}' without a block")
            out.append(Rotation(paths=paths, **block))
            block = None
            continue
        target = block if block is not None else glob_
        words = line.split()
        key = words[0]
        if key in PERIOD_DAYS:
            target["period"] = key
        elif key in ("rotate", "maxage") and len(words) > 1:
            try:
                target[key] = int(words[1])
            except ValueError:
                raise FactError(f"{origin}:{n}: {key} needs a number, found {words[1]!r}") from None
        elif key in ("size", "maxsize"):
            target["size_based"] = True
        elif key == "shred":
            target["shred"] = True
        elif key == "noshred":
            target["shred"] = False
    if block is not None:
        raise FactError(f"{origin}: block not closed")
    return out


def parse_rsyslog(text: str) -> tuple[list[str], list[str]]:
    """The file paths rsyslog writes (templates used as dynaFile, and omfile file=) and reads (imfile)."""
    templates = dict(re.findall(r'template\s*\(\s*name\s*=\s*"([^"]+)"[^)]*?string\s*=\s*"([^"]+)"', text, re.S))
    outputs = [templates[t] for t in re.findall(r'dynaFile\s*=\s*"([^"]+)"', text, re.I) if t in templates]
    outputs += re.findall(r'type\s*=\s*"omfile"[^)]*?\bfile\s*=\s*"([^"]+)"', text, re.I | re.S)
    inputs = re.findall(r'type\s*=\s*"imfile"[^)]*?\bfile\s*=\s*"([^"]+)"', text, re.I | re.S)
    return sorted(set(outputs)), sorted(set(inputs))


def template_matches(template: str, path: str) -> bool:
    """Whether an rsyslog file template (with %property% parts) can produce `path` (a glob)."""
    rx = "".join("[^/]+" if part.startswith("%") else re.escape(part)
                  for part in re.split(r"(%[^%]+%)", template))
    sample = path.replace("*", "x").replace("?", "x")
    return re.fullmatch(rx, sample) is not None


def rotation_for(rotations: list[Rotation], class_dir: str) -> Optional[Rotation]:
    """The last block (logrotate: the last one wins) that covers files in the class directory."""
    found = None
    for r in rotations:
        if any(p.startswith(class_dir.rstrip("/") + "/") or fnmatch.fnmatch(class_dir + "/x.log", p) for p in r.paths):
            found = r
    return found


@register
class LogsSource(FactSource):
    name = "logs"
    model = LogsFacts

    def static(self, ctx: Context) -> LogsFacts:
        c = ctx.profile.logs.collector
        files = ctx.profile.target.config_files
        if not files.get(c.rotation):
            raise NoSource(f"logs: the profile's target names no {c.rotation} config")
        rotations = [r for f in files[c.rotation] for r in parse_logrotate(ctx.read_text(f), f)]
        outputs: list[str] = []
        inputs: list[str] = []
        for f in files.get(c.router, []):
            o, i = parse_rsyslog(ctx.read_text(f))
            outputs += o
            inputs += i
        u = Unavailable(reason="no static source: only the running collector has log files")
        return LogsFacts(source="log collector config files", observed_at=time.time(), rotations=rotations,
                         rotation_source=", ".join(files[c.rotation]), outputs=outputs, inputs=inputs,
                         router_source=", ".join(files.get(c.router, [])) or "none", files=u, platform_since=u)

    def live(self, ctx: Context) -> LogsFacts:
        from plancheck.facts.backup import _mount_of
        from plancheck.facts.containers import archive_text, docker_client, find_service

        c = ctx.profile.logs.collector
        lf_rot = ctx.profile.target.live_files.get(c.rotation)
        if lf_rot is None:
            raise NoSource(f"logs: the profile's target names no live_files entry for {c.rotation}")
        lf_router = ctx.profile.target.live_files.get(c.router)
        client = docker_client(ctx)
        try:
            ins = find_service(client, ctx, c.container)
            cid = ins["Id"]
            rotations = parse_logrotate(archive_text(client, cid, lf_rot.path), f"{c.container}:{lf_rot.path}")
            outputs, inputs = parse_rsyslog(archive_text(client, cid, lf_router.path)) if lf_router else ([], [])
            since: Union[float, Unavailable] = Unavailable(reason=f"{c.root} is not a named volume")
            vol = _mount_of(ins, c.root)
            if vol is not None and vol.get("Type") == "volume" and vol.get("Name"):
                created = client.api.inspect_volume(vol["Name"]).get("CreatedAt", "")
                since = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            stream, _ = client.api.get_archive(cid, c.root.rstrip("/"), chunk_size=1 << 20)
            files = _list_tree(stream, ctx.profile.logs.classes)
        except FactError:
            raise
        except Exception as e:
            raise FactError(f"logs: reading {c.container}:{c.root}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]}") from None
        finally:
            client.close()
        return LogsFacts(source=f"{c.container} container (docker API, read-only)", observed_at=time.time(),
                         rotations=rotations, rotation_source=f"{c.container}:{lf_rot.path}", outputs=outputs,
                         inputs=inputs, router_source=f"{c.container}:{lf_router.path}" if lf_router else "none",
                         files=files, platform_since=since)


def _list_tree(stream: Any, classes: Any) -> dict[str, list[LogFile]]:
    from plancheck.facts.backup import _Stream

    out: dict[str, list[LogFile]] = {k: [] for k in classes}
    with tarfile.open(fileobj=io.BufferedReader(_Stream(iter(stream)), 1 << 20), mode="r|") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and len(parts) >= 3 and parts[1] in out:
                out[parts[1]].append(LogFile(name="/".join(parts[2:]), bytes=m.size, mtime=float(m.mtime)))
    return out
