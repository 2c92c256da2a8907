"""4.1 네트워크 보안: TLS 1.3 on every endpoint the profile lists, proven by real handshakes (the
public gateway on 443, the admin portal, every internal service, MariaDB and Redis): versions,
cipher suites, the served certificate, and on the public front HSTS, no plaintext HTTP and a
working wss:// upgrade. The configured side is checked by test_web.py (WEB-0xx)."""
from __future__ import annotations

import datetime as dt

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.base import FactError
from plancheck.facts.tls import VERSIONS, TlsEndpointFacts, TlsFacts, endpoint_facts
from plancheck.profile.models import Profile

TLS = "4.1 네트워크 보안 (TLS 1.3)"
EXTERNAL = "4.1 네트워크 보안 (외부 접근: HTTPS/WSS 443)"


def _planned_versions(profile: Profile, name: str) -> list[str]:
    tls = profile.security.tls
    return tls.external_versions if tls.endpoints[name].exposure == "external" else tls.internal_versions


def _cert(check: Check, ep: TlsEndpointFacts, name: str):  # type: ignore[no-untyped-def]
    if ep.certificate is None:
        check.fail(f"{name} at {ep.address}: no certificate was served")
    return ep.certificate


@control("TLS-001", title="Endpoint accepts only the planned TLS versions", severity="critical", section=TLS,
         rationale="The plan allows TLS 1.3 only: SSL 2.0/3.0 and TLS 1.0/1.1/1.2 must be refused by the server, "
         "whatever its configuration file says.",
         remediation="Restrict the server to TLS 1.3 (nginx ssl_protocols TLSv1.3; redis tls-protocols; MariaDB "
         "tls_version; Go exporters min_version/max_version TLS13) and restart it.",
         tags=("dev-sec:ssl-baseline", "dev-sec:nginx-12"),
         reads=("security.tls.external_versions", "security.tls.internal_versions"))
def test_tls_versions(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_endpoint)
    unprobed = [v for v in VERSIONS if v not in ep.versions]
    if unprobed:
        raise FactError(f"{tls_endpoint} at {ep.address}: no verdict for {', '.join(unprobed)}")
    accepted = [v for v in VERSIONS if ep.versions.get(v)]
    check.equal(accepted, [v for v in VERSIONS if v in _planned_versions(profile, tls_endpoint)],
                what=f"versions accepted by {tls_endpoint} at {ep.address}")


@control("TLS-002", title="Only allow-listed cipher suites are accepted", severity="high", section=TLS,
         rationale="The profile's allow-list holds the TLS 1.3 AEAD suites; CCM_8 and anything older are out.",
         remediation="Limit the server's suites (tls-ciphersuites, ssl_conf_command Ciphersuites, ...).",
         tags=("dev-sec:ssl-baseline",),
         reads=("security.tls.cipher_suites",))
def test_tls_cipher_suites(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_endpoint)
    allowed = profile.security.tls.cipher_suites
    if not ep.cipher_suites:
        check.fail(f"cipher suites of {tls_endpoint}: expected at least one allow-listed suite, found none accepted")
    check.subset(ep.cipher_suites, allowed, what=f"cipher suites accepted by {tls_endpoint}")


@control("TLS-003", title="Certificate chain valid against the platform CA", severity="critical", section=TLS,
         rationale="mTLS only authenticates anything when every service presents a chain the platform CA signed.",
         remediation="Issue the service certificate from the platform CA (baseline/scripts/pki.sh) and serve it "
         "with its chain.",
         reads=("security.tls.mtls",))
def test_tls_chain(check: Check, tls_facts: TlsFacts, tls_endpoint: str) -> None:
    ep = endpoint_facts(tls_facts, tls_endpoint)
    cert = _cert(check, ep, tls_endpoint)
    check.that(cert.chain_valid, expected="verifies against the platform CA",
               found=f"does not verify: {cert.chain_error}" if not cert.chain_valid else "verifies",
               what=f"chain of {tls_endpoint} (issuer {cert.issuer})")


@control("TLS-004", title="Certificate not expired and valid for the minimum days", severity="high", section=TLS,
         rationale="An expiring certificate takes the service down; renewal must happen well before.",
         remediation="Renew the certificate (pki.sh renews anything with under 30 days left) and reload the service.",
         reads=("security.tls.min_days_valid",))
def test_tls_validity(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_endpoint)
    cert = _cert(check, ep, tls_endpoint)
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = dt.datetime.fromisoformat(cert.not_before), dt.datetime.fromisoformat(cert.not_after)
    check.that(not_before <= now, expected="already valid", found=f"valid only from {cert.not_before}",
               what=f"notBefore of {tls_endpoint}")
    days = (not_after - now).total_seconds() / 86400
    check.at_least(round(days, 1), profile.security.tls.min_days_valid,
                   what=f"days left on {tls_endpoint}'s certificate (notAfter {cert.not_after})")


@control("TLS-005", title="Certificate key type and size are strong enough", severity="high", section=TLS,
         rationale="RSA under 2048 bits and EC under 256 bits are breakable within a certificate's life.",
         remediation="Reissue with an EC P-256 (or RSA 3072) key.",
         reads=("security.tls.min_key_bits",))
def test_tls_key(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    cert = _cert(check, endpoint_facts(tls_facts, tls_endpoint), tls_endpoint)
    minimum = profile.security.tls.min_key_bits
    if cert.key_type in ("Ed25519", "Ed448"):
        check.that(cert.key_type in ("Ed25519", "Ed448"), expected="Ed25519/Ed448 (fixed strength)",
                   found=cert.key_type, what=f"key type of {tls_endpoint}")
        return
    check.that(cert.key_type in minimum, expected=f"one of {sorted(minimum)}", found=cert.key_type,
               what=f"key type of {tls_endpoint}")
    check.at_least(cert.key_bits, minimum[cert.key_type], what=f"{cert.key_type} key bits of {tls_endpoint}")


@control("TLS-006", title="Certificate signature algorithm is allowed", severity="high", section=TLS,
         rationale="MD5 and SHA-1 signatures can be forged.",
         remediation="Reissue the certificate signed with SHA-256 or better.",
         reads=("security.tls.signature_algorithms",))
def test_tls_signature(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    cert = _cert(check, endpoint_facts(tls_facts, tls_endpoint), tls_endpoint)
    allowed = profile.security.tls.signature_algorithms
    check.that(cert.signature_algorithm in allowed, expected=f"one of {allowed}", found=cert.signature_algorithm,
               what=f"signature algorithm of {tls_endpoint}")


@control("TLS-007", title="Certificate SAN covers the service name", severity="high", section=TLS,
         rationale="Clients verifying the peer (nginx proxy_ssl_verify, redis-exporter, ...) need the service "
         "name in the subjectAltName; the CN is ignored.",
         remediation="Reissue with subjectAltName = DNS:<service name>.",
         reads=("+pki",))
def test_tls_san(check: Check, tls_facts: TlsFacts, tls_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_endpoint)
    cert = _cert(check, ep, tls_endpoint)
    spec = profile.security.tls.endpoints[tls_endpoint]
    name = spec.san or profile.target.endpoints[spec.endpoint].server_name or tls_endpoint
    check.that(name in cert.san_dns, expected=f"DNS:{name}", found=cert.san_dns or "no DNS names",
               what=f"subjectAltName of {tls_endpoint}")


@control("TLS-008", title="HSTS header sent on the live HTTPS answer", severity="high", section=EXTERNAL,
         rationale="HSTS keeps browsers on HTTPS after the first visit; only a real answer shows it is sent.",
         remediation='add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;',
         tags=("dev-sec:nginx-13",),
         reads=("security.web.{tls_hsts_endpoint}.hsts_min_age",))
def test_tls_hsts(check: Check, tls_facts: TlsFacts, tls_hsts_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_hsts_endpoint)
    value = ep.hsts or ""
    age = next((int(p.split("=", 1)[1]) for p in value.replace(" ", "").split(";")
                if p.lower().startswith("max-age=") and p.split("=", 1)[1].isdigit()), 0)
    web = profile.security.web.get(tls_hsts_endpoint)
    minimum = web.hsts_min_age if web else 31536000
    check.that(age >= minimum, expected=f"Strict-Transport-Security max-age >= {minimum}",
               found=value or "no header", what=f"HSTS of {tls_hsts_endpoint}")


@control("TLS-009", title="Plain HTTP absent or redirecting to HTTPS", severity="high", section=EXTERNAL,
         rationale="Only HTTPS/WSS 443 is public; a plaintext listener may only redirect.",
         remediation="Close port 80 or make it `return 301 https://$host$request_uri;`.",
         tags=("dev-sec:nginx-baseline",),
         reads=("security.public_ports",))
def test_tls_http_plain(check: Check, tls_facts: TlsFacts, tls_http_endpoint: str) -> None:
    ep = endpoint_facts(tls_facts, tls_http_endpoint)
    probe = ep.http_plain
    check.that(probe is not None and probe.ok, expected="closed or a redirect to https://",
               found=probe.detail if probe else "not probed", what=f"plaintext HTTP at {tls_http_endpoint}")


@control("TLS-010", title="WebSocket upgrade (wss://) through the gateway succeeds", severity="high", section=EXTERNAL,
         rationale="The plan's WSS(443) is a working WebSocket through the public gateway, not just an open port.",
         remediation="Proxy the path with proxy_http_version 1.1 and the Upgrade/Connection headers to the chat "
         "service.",
         reads=("security.public_ports",))
def test_tls_websocket(check: Check, tls_facts: TlsFacts, tls_websocket_endpoint: str) -> None:
    ep = endpoint_facts(tls_facts, tls_websocket_endpoint)
    probe = ep.websocket
    check.that(probe is not None and probe.ok, expected="101 Switching Protocols and an echoed frame",
               found=probe.detail if probe else "not probed", what=f"WebSocket via {tls_websocket_endpoint}")


@control("TLS-011", title="Client library's session negotiates a planned version and suite", severity="high",
         section="4.1 네트워크 보안 (컨테이너 간: TLS 1.3)",
         rationale="What the applications' own drivers (pymysql, redis-py) negotiate is what their data travels on.",
         remediation="Restrict the server to TLS 1.3 and the allow-listed suites.",
         reads=("security.tls.internal_versions", "security.tls.cipher_suites"))
def test_tls_client_session(check: Check, tls_facts: TlsFacts, tls_session_endpoint: str, profile: Profile) -> None:
    ep = endpoint_facts(tls_facts, tls_session_endpoint)
    if ep.session is None or not ep.session.ok:
        check.fail(f"{tls_session_endpoint}: no TLS session: {ep.session.detail if ep.session else 'not probed'}")
    check.that(ep.session_version in _planned_versions(profile, tls_session_endpoint),
               expected=_planned_versions(profile, tls_session_endpoint), found=ep.session_version,
               what=f"{tls_session_endpoint} session version")
    check.that(ep.session_cipher in profile.security.tls.cipher_suites, expected=profile.security.tls.cipher_suites,
               found=ep.session_cipher, what=f"{tls_session_endpoint} session cipher")
