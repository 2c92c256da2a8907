"""4.1 네트워크 보안 at the HTTPS fronts (public gateway 443, admin portal 8443) as configured:
TLS 1.3 only, HSTS, client certificates where required, mTLS to the upstreams (dev-sec
nginx-baseline). The handshakes that prove it live are in test_tls.py."""
from __future__ import annotations

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.nginx import NginxFacts, SiteFacts
from plancheck.profile.models import Profile

NET = "4.1 네트워크 보안 (network security)"


def _site(check: Check, nginx: NginxFacts, web_server: str) -> SiteFacts:
    site = nginx.sites.get(web_server)
    if site is None:
        check.fail(f"no nginx config found for {web_server} in {nginx.source}")
    return site  # type: ignore[return-value]


@control("WEB-001", title="HTTPS front accepts only the planned TLS versions", severity="critical", section=NET,
         rationale="The plan allows TLS 1.3 only; TLS 1.2 and older are refused.",
         remediation="ssl_protocols TLSv1.3; in the http or server block.",
         tags=("dev-sec:nginx-12", "dev-sec:ssl-baseline"),
         reads=("security.tls.external_versions",))
def test_ssl_protocols(check: Check, nginx: NginxFacts, web_server: str, profile: Profile) -> None:
    check.equal(sorted(_site(check, nginx, web_server).ssl_protocols), sorted(profile.security.tls.external_versions),
                what="ssl_protocols")


@control("WEB-002", title="HSTS header sent with a long max-age", severity="high", section=NET,
         rationale="HSTS keeps browsers on HTTPS after the first visit.",
         remediation='add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;',
         tags=("dev-sec:nginx-13",),
         reads=("security.web.{web_server}.hsts_min_age",))
def test_hsts(check: Check, nginx: NginxFacts, web_server: str, profile: Profile) -> None:
    value = _site(check, nginx, web_server).headers.get("Strict-Transport-Security", "")
    age = next((int(p.split("=")[1]) for p in value.replace(" ", "").split(";") if p.startswith("max-age=")
                and p.split("=")[1].isdigit()), 0)
    minimum = profile.security.web[web_server].hsts_min_age
    check.that(age >= minimum, expected=f"max-age >= {minimum}", found=value or "no header", what="HSTS")


@control("WEB-003", title="Server version not disclosed", severity="low", section=NET,
         rationale="Version banners help attackers pick exploits.", remediation="server_tokens off;",
         tags=("dev-sec:nginx-05",),
         reads=("+dev-sec",))
def test_server_tokens(check: Check, nginx: NginxFacts, web_server: str) -> None:
    check.equal(_site(check, nginx, web_server).server_tokens, "off", what="server_tokens")


@control("WEB-004", title="Client certificates verified where the profile requires them", severity="critical",
         section="4.1 네트워크 보안 (mTLS)", rationale="The admin portal is for authenticated operators only.",
         remediation="ssl_verify_client on; ssl_client_certificate <platform CA>;",
         reads=("security.web.{web_server}.require_client_cert",))
def test_client_cert(check: Check, nginx: NginxFacts, web_server: str, profile: Profile) -> None:
    if not profile.security.web[web_server].require_client_cert:
        check.not_applicable(f"{web_server}: the profile does not require client certificates here")
    check.equal(_site(check, nginx, web_server).verify_client, "on", what="ssl_verify_client")


@control("WEB-005", title="Upstreams reached over mutual TLS 1.3", severity="critical",
         section="4.1 네트워크 보안 (mTLS)", rationale="The plan's service mesh is mTLS: the gateway proves "
         "itself with a client certificate and verifies the service's certificate.",
         remediation="proxy_ssl_certificate/_key, proxy_ssl_trusted_certificate, proxy_ssl_verify on, "
         "proxy_ssl_protocols TLSv1.3, and https:// upstreams.",
         reads=("security.web.{web_server}.upstream_mtls",))
def test_upstream_mtls(check: Check, nginx: NginxFacts, web_server: str, profile: Profile) -> None:
    if not profile.security.web[web_server].upstream_mtls:
        check.not_applicable(f"{web_server}: the profile does not require mTLS to its upstreams")
    site = _site(check, nginx, web_server)
    check.equal(site.proxy_ssl_certificate, True, what="proxy_ssl_certificate set")
    check.equal(site.proxy_ssl_verify, "on", what="proxy_ssl_verify")
    check.equal(sorted(site.proxy_ssl_protocols), sorted(profile.security.tls.internal_versions),
                what="proxy_ssl_protocols")
    check.none_of([u for u in site.proxied_upstreams if not u.startswith("https://")], what="plaintext upstreams")


@control("WEB-006", title="No plaintext HTTP listener except a redirect to HTTPS", severity="high", section=NET,
         rationale="Only HTTPS/WSS is public.", remediation="Remove the listener or make it `return 301 https://...`.",
         reads=("security.public_ports",))
def test_no_plain_http(check: Check, nginx: NginxFacts, web_server: str) -> None:
    listeners = _site(check, nginx, web_server).listeners
    bad = [f"port {lst.port}" for lst in listeners if not lst.ssl and not lst.redirects_to_https]
    check.none_of(bad, what="plaintext listeners", among=len(listeners), noun="listeners")


@control("WEB-007", title="Browser security headers sent", severity="medium", section=NET,
         rationale="nosniff and frame denial close common browser attacks.",
         remediation='add_header X-Content-Type-Options "nosniff" always; add_header X-Frame-Options "DENY" always;',
         tags=("dev-sec:nginx-08", "dev-sec:nginx-10"),
         reads=("security.web.{web_server}.headers",))
def test_security_headers(check: Check, nginx: NginxFacts, web_server: str, profile: Profile) -> None:
    have = _site(check, nginx, web_server).headers
    check.none_of([h for h in profile.security.web[web_server].headers if h not in have], what="missing headers")


@control("WEB-008", title="nginx config holds only directives nginx knows", severity="medium", section=NET,
         rationale="nginx refuses to load a config with an unknown directive: the desired state would not deploy, "
         "and a typo in a TLS directive is a security setting that never applies.",
         remediation="Correct the directive at the file and line reported (nginx -t names it too).",
         reads=("+wellformed",))
def test_known_nginx_directives(check: Check, nginx: NginxFacts, web_server: str) -> None:
    site = _site(check, nginx, web_server)
    check.none_of(site.unknown_directives, what=f"unknown directives of {web_server}",
                  expected_text="every directive known to nginx")
