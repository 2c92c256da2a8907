#!/usr/bin/env python3
"""Container healthcheck: GET https://localhost:$PLANCHECK_PORT/health over
TLS 1.3, presenting the service's own certificate as the client certificate
(the server requires one) and verifying the server against the platform CA."""
import os
import ssl
import sys
import urllib.request

tls = os.environ.get("PLANCHECK_TLS_DIR", "/etc/plancheck/tls")
port = os.environ.get("PLANCHECK_PORT", "8443")
ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(os.path.join(tls, "tls.crt"), os.path.join(tls, "tls.key"))
try:
    with urllib.request.urlopen(f"https://localhost:{port}/health", context=ctx, timeout=4) as r:
        body = r.read().decode()
        print(r.status, body)
        sys.exit(0 if r.status == 200 else 1)
except Exception as exc:  # noqa: BLE001
    print(f"unhealthy: {exc}")
    sys.exit(1)
