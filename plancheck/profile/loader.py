"""Load a profile: YAML, `extends:` merge (child keys override, lists are replaced), validation.

Every problem becomes one line `FILE: key.path: what is wrong`, naming the file that set the key,
so a malformed profile stops the run before any check, without a traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from plancheck.profile.models import Profile


class ProfileError(Exception):
    """One or more problems in a profile; `lines` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def resolve_profile_path(name_or_path: str, search_dir: Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return p if p.is_absolute() else (Path.cwd() / p)
    return search_dir / f"{name_or_path}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError([f"{path}: profile file not found"]) from None
    except OSError as e:
        raise ProfileError([f"{path}: cannot read: {e.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ProfileError([f"{path}: {where}: not valid YAML: {getattr(e, 'problem', e)}"]) from None
    if not isinstance(data, dict):
        raise ProfileError([f"{path}: a profile must be a mapping of sections, found {type(data).__name__}"])
    return data


def _merge(base: Any, child: Any, origin: dict[tuple, str], child_file: str, path: tuple = ()) -> Any:
    """Deep-merge dicts; anything else (lists included) is replaced by the child."""
    if isinstance(base, dict) and isinstance(child, dict):
        out = dict(base)
        for k, v in child.items():
            out[k] = _merge(base.get(k), v, origin, child_file, path + (k,)) if k in base else v
            if k not in base:
                _mark(v, origin, child_file, path + (k,))
        return out
    _mark(child, origin, child_file, path)
    return child


def _mark(value: Any, origin: dict[tuple, str], file: str, path: tuple) -> None:
    origin[path] = file
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(v, origin, file, path + (k,))


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[tuple, str]]:
    """The merged mapping of a profile and its ancestors, and which file set each key path."""
    path = path.resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in _seen + (path,))
        raise ProfileError([f"{path}: extends: cycle ({chain})"])
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    origin: dict[tuple, str] = {}
    if parent is None:
        _mark(data, origin, str(path), ())
        return data, origin
    if not isinstance(parent, str):
        raise ProfileError([f"{path}: extends: must be the name or path of one profile"])
    parent_path = resolve_profile_path(parent, path.parent)
    if not parent_path.is_absolute():
        parent_path = path.parent / parent
    base, origin = load_raw(parent_path, _seen + (path,))
    merged = _merge(base, data, origin, str(path))
    return merged, origin


def _file_for(loc: tuple, origin: dict[tuple, str], default: str) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return default


def load_profile(name_or_path: str | Path, search_dir: Path | None = None) -> Profile:
    search_dir = search_dir or Path.cwd() / "profiles"
    path = resolve_profile_path(str(name_or_path), search_dir)
    data, origin = load_raw(path)
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"] if not isinstance(x, str) or not x.startswith("function-"))
            # Union members and validator names show up in pydantic's loc; drop them from the key path.
            loc = tuple(x for x in loc if x not in ("bool", "int", "str"))
            key = ".".join(str(x) for x in loc) or "(top)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required key is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown key (not part of the profile schema)"
            lines.append(f"{_file_for(loc, origin, str(path.resolve()))}: {key}: {msg}")
        # a union reports the same bad value once per member: say it once
        raise ProfileError(list(dict.fromkeys(lines))) from None
