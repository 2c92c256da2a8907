"""The plan's log tools as desired state (5.2 도구: Filebeat, Elasticsearch, Kibana): filebeat.yml
(its inputs and its Elasticsearch output), kibana.yml (its own TLS and its connection to
Elasticsearch) and the ILM policy files per retention class (<class>.json, the body of
PUT _ilm/policy/<name>), from the files the profile names (target.config_files keys of
`logs.tool_configs`, `logs.filebeat.config`, `logs.kibana.config`, `logs.elasticsearch.ilm_files`).

static only: Filebeat and Kibana cannot be installed on the machines this project is built and tested
on, and are not in the compose project yet, so nothing here has been read from a running Filebeat,
Kibana or Elasticsearch. In live mode this source has nothing to read (its checks are not checkable
there); the running cluster's ILM policies are LOG-005's (plancheck/facts/elasticsearch.py).
"""
from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.facts.elasticsearch import IlmPolicy, parse_policies


class FilebeatInput(BaseModel):
    type: str
    id: str = ""
    enabled: bool = True
    fields: dict[str, str] = {}


class LogStackFacts(Facts):
    # target.config_files key -> the files it names that exist (globs expanded) ...
    files: dict[str, list[str]]
    # ... and, per key, what is wrong: a pattern that matches no file, a file that does not parse
    problems: dict[str, list[str]]
    filebeat_inputs: Union[list[FilebeatInput], Unavailable]
    filebeat_output: Union[dict[str, Any], Unavailable]  # output.elasticsearch.*, flattened ("ssl.certificate")
    filebeat_source: str = ""
    kibana: Union[dict[str, Any], Unavailable]  # kibana.yml, flattened ("server.ssl.enabled")
    kibana_source: str = ""
    ilm: Union[dict[str, IlmPolicy], Unavailable]  # file stem (the class) -> policy
    ilm_source: str = ""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings as dotted keys, as Filebeat and Kibana read them (`a: {b: 1}` == `a.b: 1`);
    lists stay values."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    return out


def parse_filebeat(text: str, origin: str) -> tuple[list[FilebeatInput], dict[str, Any]]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FactError(f"{origin}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise FactError(f"{origin}: not a YAML mapping")
    flat = flatten(data)
    inputs = []
    for raw in flat.get("filebeat.inputs") or []:
        if not isinstance(raw, dict):
            continue
        fields = flatten(raw.get("fields") or {})
        inputs.append(FilebeatInput(type=str(raw.get("type", "")), id=str(raw.get("id", "")),
                                    enabled=raw.get("enabled", True) is not False,
                                    fields={k: str(v) for k, v in fields.items()}))
    output = {k.removeprefix("output.elasticsearch."): v for k, v in flat.items()
              if k.startswith("output.elasticsearch.")}
    if not output and isinstance(data.get("output"), dict) and "elasticsearch" in data["output"]:
        output = {"": data["output"]["elasticsearch"]}  # present but empty
    return inputs, output


def parse_kibana(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FactError(f"{origin}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise FactError(f"{origin}: not a YAML mapping")
    return flatten(data)


def parse_ilm_file(text: str, origin: str) -> IlmPolicy:
    """One policy file: the body of PUT _ilm/policy/<name> ({"policy": {"phases": ...}})."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise FactError(f"{origin}: not valid JSON: {str(e)[:120]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("policy"), dict):
        raise FactError(f"{origin}: not an ILM policy body (expected {{\"policy\": {{\"phases\": ...}}}})")
    return parse_policies({"policy": doc})["policy"]


def _read(path: str) -> str:
    """A desired-state file (counted as one file read by this source)."""
    text = Path(path).read_text(encoding="utf-8")
    meter.count(1, len(text.encode("utf-8")))
    return text


def _expand(ctx: Context, patterns: list[str]) -> tuple[list[str], list[str]]:
    found, missing = [], []
    for pattern in patterns:
        hits = sorted(glob.glob(str(ctx.path(pattern))))
        if not hits:
            missing.append(f"{pattern}: no such file")
        found += hits
    return found, missing


@register
class LogStackSource(FactSource):
    name = "logstack"
    model = LogStackFacts

    def static(self, ctx: Context) -> LogStackFacts:
        logs = ctx.profile.logs
        cfg = ctx.profile.target.config_files
        keys = list(dict.fromkeys(list(logs.tool_configs.values())
                                  + [logs.filebeat.config, logs.kibana.config, logs.elasticsearch.ilm_files]))
        files: dict[str, list[str]] = {}
        problems: dict[str, list[str]] = {}
        for key in keys:
            if key not in cfg:
                problems[key] = [f"the profile's target.config_files has no key {key}"]
                files[key] = []
                continue
            files[key], problems[key] = _expand(ctx, cfg[key])

        def unknown(key: str) -> Unavailable:
            why = "; ".join(problems.get(key) or []) or f"no {key} file"
            return Unavailable(reason=f"{key}: {why}", kind="unknown")

        inputs: Union[list[FilebeatInput], Unavailable] = unknown(logs.filebeat.config)
        output: Union[dict[str, Any], Unavailable] = unknown(logs.filebeat.config)
        for f in files.get(logs.filebeat.config, [])[:1]:
            try:
                inputs, output = parse_filebeat(_read(f), f)
            except (FactError, OSError) as e:
                problems[logs.filebeat.config].append(str(e))
                inputs = output = unknown(logs.filebeat.config)
        kibana: Union[dict[str, Any], Unavailable] = unknown(logs.kibana.config)
        for f in files.get(logs.kibana.config, [])[:1]:
            try:
                kibana = parse_kibana(_read(f), f)
            except (FactError, OSError) as e:
                problems[logs.kibana.config].append(str(e))
                kibana = unknown(logs.kibana.config)
        ilm: Union[dict[str, IlmPolicy], Unavailable] = unknown(logs.elasticsearch.ilm_files)
        if files.get(logs.elasticsearch.ilm_files):
            ilm = {}
            for f in files[logs.elasticsearch.ilm_files]:
                try:
                    ilm[Path(f).stem] = parse_ilm_file(_read(f), f)
                except (FactError, OSError) as e:
                    problems[logs.elasticsearch.ilm_files].append(str(e))
        rel = {k: [str(Path(f).relative_to(ctx.root)) if Path(f).is_relative_to(ctx.root) else f for f in v]
               for k, v in files.items()}
        return LogStackFacts(
            source="desired-state files of the log tools", files=rel, problems=problems,
            filebeat_inputs=inputs, filebeat_output=output,
            filebeat_source=", ".join(rel.get(logs.filebeat.config, [])) or "none",
            kibana=kibana, kibana_source=", ".join(rel.get(logs.kibana.config, [])) or "none",
            ilm=ilm, ilm_source=", ".join(rel.get(logs.elasticsearch.ilm_files, [])) or "none")

    def live(self, ctx: Context) -> LogStackFacts:
        raise NoSource("logstack: Filebeat, Kibana and the ILM policy files are checked in their desired state "
                       "only (--static): neither runs where this audit runs")
