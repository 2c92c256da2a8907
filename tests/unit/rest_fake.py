"""A local HTTP server answering recorded REST responses (tests/data/recorded/), so the REST fact
sources (Prometheus, Alertmanager, Elasticsearch, Grafana) run their live code path in unit tests."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import parse_qs, urlsplit

import yaml

RECORDED = Path(__file__).resolve().parent.parent / "data" / "recorded"
Answer = Union[tuple[int, Any], Callable[[dict[str, list[str]]], tuple[int, Any]]]


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


class FakeRest:
    """`with FakeRest({"/_ilm/policy": (200, body)}) as srv:` ... srv.port; srv.requests."""

    def __init__(self, routes: dict[str, Answer]):
        self.routes = routes
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                fake.requests.append(self.path)
                answer = fake.routes.get(url.path)
                if answer is None:
                    status, body = 404, {"error": f"no route {url.path}"}
                elif callable(answer):
                    status, body = answer(parse_qs(url.query))
                else:
                    status, body = answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def __enter__(self) -> "FakeRest":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def child_profile(tmp_path: Path, overrides: dict[str, Any], base: str = "baseline") -> str:
    """A profile extending `base` with `overrides` (e.g. endpoints of the fake server)."""
    from tests.audit import ROOT

    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles" / f"{base}.yaml"), **overrides}))
    return str(path)


def endpoint(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "scheme": "http"}
