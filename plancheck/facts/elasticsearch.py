"""Elasticsearch facts (5.2): the ILM policies and their delete phases, through the REST API
(GET / and GET /_ilm/policy) when the profile names an Elasticsearch endpoint
(`logs.elasticsearch.endpoint`). Where it names none, every ILM fact is Unavailable with the reason
and the run's report carries a note saying ILM was not verified live.

Elasticsearch cannot be installed on the reference machines: this source is tested against recorded
REST responses (tests/data/recorded/elasticsearch/), not against a live server."""
from __future__ import annotations

import re
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, Unavailable, register

NOT_CONFIGURED = "Elasticsearch ILM: not verified live (no Elasticsearch endpoint configured in the profile)"
_UNITS = {"d": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400, "ms": 1 / 86400e3,
          "micros": 1 / 86400e6, "nanos": 1 / 86400e9}


class IlmPolicy(BaseModel):
    phases: list[str]
    delete_min_age: Optional[str] = None  # as configured, e.g. "7d"; None: no delete phase
    delete_min_age_days: Optional[float] = None
    deletes: bool = False  # the delete phase has a delete action


class ElasticsearchFacts(Facts):
    version: Union[str, Unavailable]
    policies: Union[dict[str, IlmPolicy], Unavailable]


def es_duration_days(value: str) -> float:
    """Elasticsearch time units (d, h, m, s, ms, micros, nanos) as days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|ms|micros|nanos)\s*", str(value))
    if not m:
        raise FactError(f"elasticsearch: not a time value: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_policies(doc: dict[str, Any]) -> dict[str, IlmPolicy]:
    """The body of GET /_ilm/policy: {name: {version, modified_date, policy: {phases: {...}}}}."""
    out = {}
    for name, entry in (doc or {}).items():
        phases = ((entry or {}).get("policy") or {}).get("phases") or {}
        delete = phases.get("delete")
        age = str(delete.get("min_age", "0ms")) if isinstance(delete, dict) else None
        out[name] = IlmPolicy(phases=sorted(phases), delete_min_age=age,
                              delete_min_age_days=es_duration_days(age) if age is not None else None,
                              deletes=isinstance(delete, dict) and "delete" in (delete.get("actions") or {}))
    return out


def _not_configured(ctx: Context) -> ElasticsearchFacts:
    if ctx.store is not None and NOT_CONFIGURED not in ctx.store.notes:
        ctx.store.notes.append(NOT_CONFIGURED)
    u = Unavailable(reason=NOT_CONFIGURED, kind="absent")  # the profile marks it absent from this target
    return ElasticsearchFacts(source="not configured", version=u, policies=u)


@register
class ElasticsearchSource(FactSource):
    name = "elasticsearch"
    model = ElasticsearchFacts

    def static(self, ctx: Context) -> ElasticsearchFacts:
        if ctx.profile.logs.elasticsearch.endpoint is None:
            return _not_configured(ctx)
        u = Unavailable(reason="no static source: ILM policies live in the Elasticsearch cluster")
        return ElasticsearchFacts(source="static", version=u, policies=u)

    def live(self, ctx: Context) -> ElasticsearchFacts:
        from plancheck.facts.httpapi import Api

        name = ctx.profile.logs.elasticsearch.endpoint
        if name is None:
            return _not_configured(ctx)
        api = Api(ctx, name)
        try:
            root = api.get("/")
            policies = parse_policies(api.get("/_ilm/policy"))
        finally:
            api.close()
        return ElasticsearchFacts(source=f"{api.base}/_ilm/policy",
                                  version=str((root.get("version") or {}).get("number", "?")), policies=policies)
