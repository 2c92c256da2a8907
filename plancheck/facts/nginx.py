"""nginx facts through crossplane (nginx's own config grammar): the config file of the desired
state (static), or the copy inside the running container read through the docker API (live)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional

from pydantic import BaseModel

from plancheck.facts.containers import read_container_file
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, register


class Listener(BaseModel):
    port: int
    ssl: bool
    redirects_to_https: bool = False


class SiteFacts(BaseModel):
    listeners: list[Listener]
    ssl_protocols: list[str]
    verify_client: str  # on / off / optional / optional_no_ca
    headers: dict[str, str]
    server_tokens: str
    proxy_ssl_certificate: bool
    proxy_ssl_verify: str
    proxy_ssl_protocols: list[str]
    proxied_upstreams: list[str]
    # directives nginx does not know, one line each ("gateway.conf:12: unknown directive 'ssl_protocol'")
    unknown_directives: list[str] = []


class NginxFacts(Facts):
    sites: dict[str, SiteFacts]  # web server name (profile security.web) -> facts


def _directives(block: list[dict[str, Any]], name: str) -> list[list[str]]:
    return [d["args"] for d in block if d["directive"] == name]


def _last(blocks: list[list[dict[str, Any]]], name: str, default: Optional[list[str]] = None) -> list[str]:
    """The value in the innermost context that sets it (nginx inheritance: server over http)."""
    for block in reversed(blocks):
        found = _directives(block, name)
        if found:
            return found[-1]
    return default or []


def _walk(block: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    out = []
    for d in block:
        if d["directive"] == name:
            out.append(d)
        out += _walk(d.get("block") or [], name)
    return out


# Blocks whose entries are values, not directives (`map $x $y { default 0; ... }`).
_VALUE_BLOCKS = {"map", "types", "geo", "split_clients", "charset_map", "match"}


def unknown_directives(block: list[dict[str, Any]], origin: str) -> list[str]:
    """Directives of a crossplane parse that nginx does not know (crossplane's list, nginx up to
    about 1.19, plus the newer ones in plancheck.facts.known_directives)."""
    from crossplane.analyzer import DIRECTIVES

    from plancheck.facts.known_directives import NGINX_EXTRA_DIRECTIVES

    out = []
    for d in block:
        name = d["directive"]
        if name not in DIRECTIVES and name not in NGINX_EXTRA_DIRECTIVES:
            shown = "".join(c if c.isprintable() else "?" for c in name)
            out.append(f"{origin}:{d.get('line', '?')}: unknown directive {(shown[:57] + '...') if len(shown) > 60 else shown!r}")
        if name not in _VALUE_BLOCKS:
            out += unknown_directives(d.get("block") or [], origin)
    return out


def parse_site(text: str, origin: str) -> SiteFacts:
    import crossplane

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        parsed = crossplane.parse(path, single=True, check_ctx=False, check_args=False, comments=False)
    if parsed["errors"]:
        e = parsed["errors"][0]
        raise FactError(f"{origin}:{e.get('line', '?')}: {e['error'].replace(path, origin)}")
    top = parsed["config"][0]["parsed"]
    http = next((d["block"] for d in top if d["directive"] == "http"), top)
    servers = [d["block"] for d in http if d["directive"] == "server"] or [http]
    listeners: list[Listener] = []
    headers: dict[str, str] = {}
    verify = "off"
    protocols: list[str] = []
    for server in servers:
        scope = [top, http, server]
        redirect = any(args and args[0] in ("301", "302", "308") and "https://" in " ".join(args[1:])
                       for args in _directives(server, "return"))
        for args in _directives(server, "listen"):
            port = int(args[0].rsplit(":", 1)[-1]) if args[0].rsplit(":", 1)[-1].isdigit() else 80
            listeners.append(Listener(port=port, ssl="ssl" in args[1:], redirects_to_https=redirect))
        if any("ssl" in a[1:] for a in _directives(server, "listen")):
            protocols = _last(scope, "ssl_protocols", ["TLSv1.2", "TLSv1.3"])  # nginx's default
            verify = (_last(scope, "ssl_verify_client", ["off"]) or ["off"])[0]
            for args in _directives(server, "add_header") or _directives(http, "add_header"):
                headers[args[0]] = args[1] if len(args) > 1 else ""
    proxies = sorted({d["args"][0] for d in _walk(http, "proxy_pass")})
    return SiteFacts(
        listeners=listeners, ssl_protocols=protocols, verify_client=verify, headers=headers,
        server_tokens=(_last([top, http], "server_tokens", ["on"]) or ["on"])[0],
        proxy_ssl_certificate=bool(_last([http], "proxy_ssl_certificate")),
        proxy_ssl_verify=(_last([http], "proxy_ssl_verify", ["off"]) or ["off"])[0],
        proxy_ssl_protocols=_last([http], "proxy_ssl_protocols", ["TLSv1.2", "TLSv1.3"]),
        proxied_upstreams=proxies,
        unknown_directives=unknown_directives(top, origin),
    )


@register
class NginxSource(FactSource):
    name = "nginx"
    model = NginxFacts

    def static(self, ctx: Context) -> NginxFacts:
        sites = {}
        for name, web in ctx.profile.security.web.items():
            files = ctx.profile.target.config_files.get(web.config)
            if not files:
                raise NoSource(f"nginx: the profile's target names no config file for {web.config}")
            sites[name] = parse_site(ctx.read_text(files[0]), str(ctx.path(files[0])))
        return NginxFacts(source="nginx config files", sites=sites)

    def live(self, ctx: Context) -> NginxFacts:
        sites = {}
        for name, web in ctx.profile.security.web.items():
            lf = ctx.profile.target.live_files.get(web.config)
            if lf is None:
                raise NoSource(f"nginx: the profile's target names no live_files entry for {web.config}")
            text = read_container_file(ctx, lf.service, lf.path)
            sites[name] = parse_site(text, f"{lf.service}:{lf.path}")
        return NginxFacts(source="nginx config inside the running containers", sites=sites)
