"""Grafana facts (5.1): health, data sources (and each one's health check) and dashboards, through
Grafana's HTTP API (GET /api/health, /api/datasources, /api/datasources/uid/<uid>/health,
/api/search?type=dash-db) when the profile names a Grafana endpoint (`monitoring.grafana.endpoint`).
Where it names none, every fact is Unavailable and the report carries a note saying so.

Grafana cannot be installed on the reference machines: this source is tested against recorded REST
responses (tests/data/recorded/grafana/), not against a live server."""
from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, Unavailable, register

NOT_CONFIGURED = "Grafana: not verified live (no Grafana endpoint configured in the profile)"


class Datasource(BaseModel):
    name: str
    type: str
    uid: str = ""
    url: str = ""
    health: str = ""  # OK / ERROR / '' (not checked)
    message: str = ""


class GrafanaFacts(Facts):
    version: Union[str, Unavailable]
    database: Union[str, Unavailable]  # /api/health "database": ok
    datasources: Union[list[Datasource], Unavailable]
    dashboards: Union[list[str], Unavailable]  # titles


def parse_datasources(doc: Any) -> list[Datasource]:
    if not isinstance(doc, list):
        raise FactError("grafana: /api/datasources did not answer a list")
    return [Datasource(name=str(d.get("name", "")), type=str(d.get("type", "")), uid=str(d.get("uid", "")),
                       url=str(d.get("url", ""))) for d in doc]


def parse_dashboards(doc: Any) -> list[str]:
    if not isinstance(doc, list):
        raise FactError("grafana: /api/search did not answer a list")
    return sorted(str(d.get("title", "")) for d in doc if d.get("type", "dash-db") == "dash-db")


def _not_configured(ctx: Context) -> GrafanaFacts:
    if ctx.store is not None and NOT_CONFIGURED not in ctx.store.notes:
        ctx.store.notes.append(NOT_CONFIGURED)
    u = Unavailable(reason=NOT_CONFIGURED, kind="absent")  # the profile marks it absent from this target
    return GrafanaFacts(source="not configured", version=u, database=u, datasources=u, dashboards=u)


@register
class GrafanaSource(FactSource):
    name = "grafana"
    model = GrafanaFacts

    def static(self, ctx: Context) -> GrafanaFacts:
        if ctx.profile.monitoring.grafana.endpoint is None:
            return _not_configured(ctx)
        u = Unavailable(reason="no static source: data sources and dashboards live in Grafana")
        return GrafanaFacts(source="static", version=u, database=u, datasources=u, dashboards=u)

    def live(self, ctx: Context) -> GrafanaFacts:
        from plancheck.facts.httpapi import Api

        name = ctx.profile.monitoring.grafana.endpoint
        if name is None:
            return _not_configured(ctx)
        api = Api(ctx, name)
        try:
            health = api.get("/api/health")
            sources = parse_datasources(api.get("/api/datasources"))
            for ds in sources:
                if ds.uid:
                    try:
                        h = api.get(f"/api/datasources/uid/{ds.uid}/health")
                        ds.health, ds.message = str(h.get("status", "")), str(h.get("message", ""))[:200]
                    except FactError as e:
                        ds.health, ds.message = "ERROR", str(e)[:200]
            dashboards = parse_dashboards(api.get("/api/search", {"type": "dash-db"}))
        finally:
            api.close()
        return GrafanaFacts(source=f"{api.base}/api", version=str(health.get("version", "?")),
                            database=str(health.get("database", "?")), datasources=sources, dashboards=dashboards)
