"""4.1 네트워크 보안 (서비스 메시: mTLS): every internal endpoint that must authenticate its peers,
tried by four clients, each its own check: no certificate, a certificate from a foreign CA, an
expired certificate from the platform CA (refused), and the audit's valid one (accepted). The
negative clients use the audit's real credentials where the protocol has any, so the certificate
is the only thing that differs."""
from __future__ import annotations

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.base import FactError
from plancheck.facts.tls import MtlsFacts, endpoint_facts

MTLS = "4.1 네트워크 보안 (서비스 메시: mTLS)"


def _case(check: Check, facts: MtlsFacts, name: str, case: str, want: str) -> None:
    ep = endpoint_facts(facts, name)
    result = check.fact(ep.cases.get(case))  # Unavailable (no CA key for the expired case): skipped
    if result is None:
        raise FactError(f"{name}: the {case} client was not tried")
    if result.outcome == "error":
        raise FactError(f"{name} at {ep.address}: {case} client got no verdict: {result.detail}")
    check.that(result.outcome == want, expected=want, found=f"{result.outcome}: {result.detail}",
               what=f"{name} at {ep.address}, client {case.replace('_', ' ')}")


@control("MTLS-001", title="Client without a certificate is refused", severity="critical", section=MTLS,
         rationale="The service mesh is mTLS: a peer that cannot prove its identity must not get in.",
         remediation="Require client certificates (ssl_verify_client on; tls-auth-clients yes; REQUIRE X509; "
         "client_auth_type: RequireAndVerifyClientCert; ssl.CERT_REQUIRED).",
         reads=("security.tls.mtls",))
def test_mtls_no_certificate(check: Check, mtls_facts: MtlsFacts, mtls_endpoint: str) -> None:
    _case(check, mtls_facts, mtls_endpoint, "no_cert", "refused")


@control("MTLS-002", title="Client certificate from a foreign CA is refused", severity="critical", section=MTLS,
         rationale="Only the platform CA vouches for peers; any other CA's certificate proves nothing.",
         remediation="Trust only the platform CA for client certificates (ssl_client_certificate, tls-ca-cert-file, "
         "client_ca_file).",
         reads=("security.tls.mtls",))
def test_mtls_foreign_ca(check: Check, mtls_facts: MtlsFacts, mtls_endpoint: str) -> None:
    _case(check, mtls_facts, mtls_endpoint, "foreign_ca", "refused")


@control("MTLS-003", title="Expired client certificate from the platform CA is refused", severity="high",
         section=MTLS, rationale="An expired certificate (e.g. of a decommissioned client) must not open the mesh.",
         remediation="Verify the client certificate's validity period (do not disable time checks).",
         reads=("security.tls.mtls",))
def test_mtls_expired(check: Check, mtls_facts: MtlsFacts, mtls_endpoint: str) -> None:
    _case(check, mtls_facts, mtls_endpoint, "expired", "refused")


@control("MTLS-004", title="Client with a valid platform certificate is accepted", severity="high", section=MTLS,
         rationale="Refusing everyone is not mTLS either: the platform's own clients must get in.",
         remediation="Trust the platform CA and allow the client identities that need the service.",
         reads=("security.tls.mtls",))
def test_mtls_valid(check: Check, mtls_facts: MtlsFacts, mtls_endpoint: str) -> None:
    _case(check, mtls_facts, mtls_endpoint, "valid", "accepted")
