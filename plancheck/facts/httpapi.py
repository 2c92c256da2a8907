"""One small JSON-over-HTTP(S) client for the REST APIs the audit reads (Prometheus, Alertmanager,
Elasticsearch, Grafana): the profile endpoint gives host (`service:NAME` resolved to the container),
port and scheme; HTTPS verifies the server against the platform CA and presents the audit's client
certificate (mutual TLS); credentials come from the environment variable or file the profile names.
Every request has a timeout; every failure is one FactError line naming the URL and the cause."""
from __future__ import annotations

import ssl
from typing import Any, Optional

import requests
from requests.adapters import HTTPAdapter

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError
from plancheck.facts.endpoints import endpoint, resolve_host, secret, tls_files


class _TlsAdapter(HTTPAdapter):
    """CA-verified TLS with the audit's client certificate. The server is reached by container IP,
    so its certificate is matched against the endpoint's server_name (the service), not the address."""

    def __init__(self, ctx: ssl.SSLContext, server_name: Optional[str]):
        self._ctx = ctx
        self._name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ctx
        kwargs["assert_hostname"] = self._name or False
        kwargs["server_hostname"] = self._name
        super().init_poolmanager(*args, **kwargs)


class Api:
    def __init__(self, ctx: Context, name: str):
        ep = endpoint(ctx, name)
        self.name = name
        self.timeout = ctx.timeout
        scheme = ep.scheme or "https"
        host = resolve_host(ctx, ep)
        self.base = f"{scheme}://{host}:{ep.port}"
        self.session = meter.count_session(requests.Session())  # round trips and bytes of this source
        if scheme == "https":
            ca, cert, key = tls_files(ctx)
            tls = ssl.create_default_context(cafile=ca)
            tls.check_hostname = False
            tls.load_cert_chain(cert, key)
            self.session.mount("https://", _TlsAdapter(tls, ep.server_name))
            self.session.verify = ca
        if ep.credential and ep.credential.user:
            self.session.auth = (ep.credential.user, secret(ctx, ep) or "")

    def get(self, path: str, params: Optional[dict[str, Any]] = None) -> Any:
        url = self.base + path
        try:
            r = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as e:
            raise FactError(f"{self.name}: cannot reach {url}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]}") from None
        if r.status_code != 200:
            raise FactError(f"{self.name}: GET {url} answered HTTP {r.status_code}: {r.text.strip()[:200]}")
        try:
            return r.json()
        except ValueError:
            raise FactError(f"{self.name}: GET {url} did not answer JSON") from None

    def probe(self, path: str) -> str:
        """A plain-text endpoint (/-/ready): what it answered, as "HTTP 200: <first line>". A request
        that got no answer is a FactError, never read as ready or not ready."""
        url = self.base + path
        try:
            r = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as e:
            raise FactError(f"{self.name}: cannot reach {url}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]}") from None
        return f"HTTP {r.status_code}: {(r.text.strip().splitlines() or [''])[0][:120]}"

    def close(self) -> None:
        self.session.close()
