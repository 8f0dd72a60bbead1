"""Security of the running API: the bearer token is compared in constant time and never
appears in a log line, a response or an error; images carry no secret."""

from __future__ import annotations

import ast
import hmac
import inspect
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.registry import Version
from services.serving import auth
from services.serving.app import create_app
from services.serving.settings import Settings
from tests.api import TOKEN, RunningApi

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|PRIVATE|ACCESS_KEY|CREDENTIAL)", re.I)


class NoModel:
    """A registry with nothing promoted: the auth check runs before any model is needed."""

    def resolve(self, name: str, alias: str) -> Version | None:
        return None

    def load(self, ref: Version) -> object:
        raise AssertionError("nothing to load")


def test_the_token_check_calls_compare_digest_with_the_given_and_the_expected_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    app = create_app(Settings(api_token=TOKEN), NoModel(), CollectorRegistry())  # type: ignore[arg-type]
    with TestClient(app) as client:
        for header, status in [
            (f"Bearer {TOKEN}", 503),  # past auth; no model yet
            ("Bearer wrong", 401),
            (f"Bearer {TOKEN[:-1]}", 401),  # a prefix: what a timing attack converges on
            (None, 401),
        ]:
            headers = {"authorization": header} if header else {}
            assert (
                client.post("/predict", json={"horizon": 1}, headers=headers).status_code == status
            )
    assert calls == [
        (TOKEN.encode(), TOKEN.encode()),
        (b"wrong", TOKEN.encode()),
        (TOKEN[:-1].encode(), TOKEN.encode()),
        (b"", TOKEN.encode()),
    ]


def test_the_token_check_has_no_ordinary_comparison_that_could_short_circuit() -> None:
    tree = ast.parse(inspect.getsource(auth.require_token))
    # `x is None` checks are fine; ==, !=, in, startswith and the like stop at the first
    # differing byte, so none may touch the token: it goes to compare_digest only.
    value_compares = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and not all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops)
    ]
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert value_compares == []
    assert "hmac.compare_digest" in calls
    assert not {c for c in calls if c.endswith((".startswith", ".endswith", ".find"))}


def test_settings_never_print_the_token() -> None:
    settings = Settings(api_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_the_token_is_in_no_response_and_no_log_line_after_good_and_bad_requests(
    guarded_api: RunningApi,
) -> None:
    bodies = [
        ("/predict", {"horizon": 2}),
        ("/predict", {"horizon": 0}),  # a 422 that echoes the body (not the header)
        ("/invocations", {"inputs": {"n_periods": [2]}}),
        ("/invocations", {"rows": [1]}),  # a 400 from MLflow's parser
    ]
    headers = [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        f"bearer {TOKEN} extra",
        TOKEN,
    ]
    answers: list[str] = []
    with httpx.Client(base_url=guarded_api.url, timeout=30) as http:
        for route, body in bodies:
            for header in headers:
                response = http.post(route, json=body, headers={"authorization": header})
                assert response.status_code < 500
                answers.append(response.text + str(response.headers))
        right = {"authorization": f"Bearer {TOKEN}"}
        for path in ("/model", "/metrics", "/readyz", "/healthz", "/openapi.json", "/docs"):
            response = http.get(path, headers=right)
            assert response.status_code == 200, path
            answers.append(response.text + str(response.headers))
    leaked = [a[:200] for a in answers if TOKEN in a]
    assert leaked == []
    logs = guarded_api.logs()
    assert "DEBUG" in logs  # the log level took effect, so the check below means something
    assert TOKEN not in logs


def test_a_bad_setting_is_reported_without_echoing_the_token(tmp_path: Path) -> None:
    env = {"API_TOKEN": TOKEN, "PORT": "not-a-port", "PATH": str(Path(sys.executable).parent)}
    mlstack = Path(sys.executable).with_name("mlstack")
    result = subprocess.run(
        [str(mlstack), "serve"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert "PORT" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", sorted(ROOT.glob("services/**/Dockerfile")), ids=str)
def test_no_image_bakes_in_a_secret(dockerfile: Path) -> None:
    names = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() in ("ENV", "ARG"):
            names += [w.split("=", 1)[0] for w in words[1:] if w != "\\"]
    assert names, f"{dockerfile} sets no ENV/ARG at all: the parser missed them"
    assert [n for n in names if SECRET_NAME.search(n)] == []
