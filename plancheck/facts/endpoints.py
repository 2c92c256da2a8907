"""Where a live service answers: a profile endpoint `host` is an address, or `service:NAME` to take
the IP of that compose service's container from the container facts (one inspect per run)."""
from __future__ import annotations

import socket
from pathlib import Path

from plancheck.facts.base import Context, FactError
from plancheck.profile.models import Endpoint


def endpoint(ctx: Context, name: str) -> Endpoint:
    ep = ctx.profile.target.endpoints.get(name)
    if ep is None:
        raise FactError(f"profile target has no endpoint '{name}'")
    return ep


def _is_local(address: str) -> bool:
    """Whether the address is configured on this host: binding to it succeeds only then."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def resolve_host(ctx: Context, ep: Endpoint) -> str:
    if not ep.host.startswith("service:"):
        if ctx.profile.target.local_only and not _is_local(ep.host):
            raise FactError(f"cannot reach {ep.host}:{ep.port}: the address is not configured on this host "
                            "(the profile's target is local_only; are the vantage namespaces up?)")
        return ep.host
    service = ep.host.split(":", 1)[1]
    assert ctx.store is not None
    facts = ctx.store.get("containers")
    c = facts.containers.get(service)  # type: ignore[attr-defined]
    if c is None:
        raise FactError(f"cannot reach {service}: no such container in {facts.source}")
    ips = [ip for ip in c.addresses.values() if ip]
    if not ips:
        raise FactError(f"cannot reach {service}: the container has no IP address (not running?)")
    return ips[0]


def tls_files(ctx: Context) -> tuple[str, str, str]:
    tc = ctx.profile.target.tls_client
    if tc is None:
        raise FactError("profile target has no tls_client (ca, cert, key) for the audit's connections")
    paths = [ctx.path(p) for p in (tc.ca, tc.cert, tc.key)]
    for p in paths:
        if not Path(p).is_file():
            raise FactError(f"TLS client file not found: {p} (is the platform's PKI deployed?)")
    return str(paths[0]), str(paths[1]), str(paths[2])


def secret(ctx: Context, ep: Endpoint) -> str | None:
    """The endpoint's password from the environment variable or file the profile NAMES."""
    cred = ep.credential
    if cred is None:
        return None
    value = ctx.env.get(cred.password_env) if cred.password_env else None
    if value is not None:
        return value
    if cred.password_env and not cred.password_file:
        raise FactError(f"environment variable {cred.password_env} (password for {cred.user}) is not set")
    if cred.password_file:  # the file is the fallback when the variable is not set
        path = ctx.path(cred.password_file)
        try:
            return path.read_text().strip()
        except OSError:
            raise FactError(f"password file for {cred.user} not readable: {path}") from None
    return None
