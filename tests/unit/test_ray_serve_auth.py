"""The Serve REST client against a real HTTP server that checks a bearer token, as Ray's
dashboard does with token auth on (the default since Ray 2.5x)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fragrance_operator.adapters.ray_serve import ServeAuthError, ServeREST

TOKEN = "the-cluster-token"


class Dashboard:
    """Answers the applications list to ``Bearer TOKEN``, 401 to anything else."""

    def __init__(self) -> None:
        self.requests: list[str | None] = []
        self.on_request: Callable[[int], None] = lambda count: None
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Authorization")
                dashboard.requests.append(header)
                dashboard.on_request(len(dashboard.requests))
                ok = header == f"Bearer {TOKEN}"
                body = json.dumps({"applications": {}} if ok else {"error": "unauthenticated"})
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def dashboard() -> Iterator[Dashboard]:
    served = Dashboard()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the client looks for Ray's token; absent at first, as on a fresh machine."""
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    path = tmp_path / "auth_token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    return path


def test_a_client_made_before_the_token_exists_authenticates_once_it_does(
    dashboard: Dashboard, token_file: Path
) -> None:
    rest = ServeREST(dashboard.url)
    with pytest.raises(ServeAuthError, match="no token found"):
        rest.applications()
    token_file.write_text(TOKEN + "\n")
    assert rest.applications() == {}
    assert dashboard.requests[-1] == f"Bearer {TOKEN}"


def test_waiting_for_ray_outlasts_the_moment_before_it_writes_its_token(
    dashboard: Dashboard, token_file: Path
) -> None:
    # Ray writes its token as it starts: here, while the client is already polling.
    dashboard.on_request = lambda count: count == 3 and token_file.write_text(TOKEN)
    rest = ServeREST(dashboard.url)
    rest.wait_reachable(timeout=60)
    assert dashboard.requests[:2] == [None, None]
    assert dashboard.requests[-1] == f"Bearer {TOKEN}"


def test_a_refused_token_is_reported_at_once_not_retried_until_a_timeout(
    dashboard: Dashboard, token_file: Path
) -> None:
    token_file.write_text("a-stale-token")
    rest = ServeREST(dashboard.url)
    with pytest.raises(ServeAuthError, match=r"Ray's token auth refused us \(401\)"):
        rest.wait_reachable(timeout=600)
    # The refusal, one more look for a rotated token (the same one), and no polling.
    assert dashboard.requests == ["Bearer a-stale-token"]


def test_a_rotated_token_is_picked_up_on_refusal(dashboard: Dashboard, token_file: Path) -> None:
    token_file.write_text("the-old-token")
    rest = ServeREST(dashboard.url)
    assert rest.auth.token == "the-old-token"
    token_file.write_text(TOKEN)
    assert rest.applications() == {}
    assert dashboard.requests == ["Bearer the-old-token", f"Bearer {TOKEN}"]


def test_a_token_handed_over_needs_no_file(dashboard: Dashboard, token_file: Path) -> None:
    assert ServeREST(dashboard.url, token=TOKEN).applications() == {}
    assert not token_file.exists()
