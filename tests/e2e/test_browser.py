"""A real browser on the local stack: Debian's headless Chromium, driven by Playwright, against
`mlstack up --detach` exactly as a newcomer starts it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import BrowserContext, expect, sync_playwright

from services.local.state import StackState
from tests.binaries import need
from tests.conftest import ROOT
from tests.local.factories import MLSTACK, leftovers, up_command

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, self-contained Chromium: nothing phones home, nothing needs a GPU or a sandbox (CI
# containers run as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "screenshots"  # git-ignored
WAIT_MS = 120_000  # the first forecast also loads the model's code in the API
HORIZON = 18


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    model: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("e2e") / ".mlstack"
    started = subprocess.run(
        [*up_command(state_dir), "--detach"], capture_output=True, text=True, timeout=900
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = StackState.load(state_dir)
        assert state is not None and state.model is not None
        yield Stack({s.name: s.url for s in state.services if s.url}, state.model)
    finally:
        subprocess.run([MLSTACK, "down", "--state-dir", str(state_dir)], check=True)
    assert leftovers(state_dir) == []


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    need("Debian chromium", CHROMIUM.exists(), "`make e2e` / `make test` install it (system-deps)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),  # Debian's build; never `playwright install`
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


def test_demo_draws_the_forecast_of_the_prod_model_with_one_point_per_period(
    stack: Stack, browser: BrowserContext
) -> None:
    page = browser.new_page()
    page.goto(stack.urls["demo"])
    version = stack.model.rsplit(" ", 1)[1]
    metrics = page.get_by_test_id("stMetricValue")
    expect(metrics.nth(1)).to_have_text(version, timeout=WAIT_MS)

    page.get_by_label("Horizon (periods)").fill(str(HORIZON))
    page.get_by_role("button", name="Forecast").click()

    points = page.locator("g.forecast_points_marks path")
    expect(points).to_have_count(HORIZON, timeout=WAIT_MS)
    expect(page.locator("g.history_marks path")).to_have_count(1)  # one line, 144 months
    expect(
        page.get_by_text(f"{HORIZON} months ahead from ForecastModel version {version}")
    ).to_be_visible()
    expect(page.get_by_label("Horizon (months)")).to_have_value(str(HORIZON))
    x_axis = page.locator('g[aria-label^="X-axis"]')
    ticks = x_axis.locator(".role-axis-label text").all_text_contents()
    assert ticks and all(re.fullmatch(r"(19|20)\d\d", tick) for tick in ticks), ticks
    SCREENSHOTS.mkdir(exist_ok=True)
    page.get_by_test_id("stVegaLiteChart").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "e2e-demo-forecast.png"))
    page.close()


def test_api_docs_page_renders_the_prediction_route(stack: Stack, browser: BrowserContext) -> None:
    page = browser.new_page()
    # Every request the page makes, answered or not: a CDN that answers must fail this too.
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(f"{stack.urls['api']}/docs", wait_until="networkidle")
    assert response is not None and response.status == 200
    openapi = page.request.get(f"{stack.urls['api']}/openapi.json").json()
    assert "/predict" in openapi["paths"]
    hosts = {urlparse(url).netloc for url in requested if not url.startswith("data:")}
    assert urlparse(stack.urls["api"]).netloc in hosts  # the recording saw the page's requests
    external = sorted(hosts - {urlparse(stack.urls["api"]).netloc})
    assert not external, f"/docs fetched assets from {external}; they must be served locally"
    expect(page.locator(".swagger-ui .opblock-summary-path", has_text="/predict")).to_be_visible(
        timeout=WAIT_MS
    )
    page.screenshot(path=str(SCREENSHOTS / "e2e-api-docs.png"))
    page.close()


def test_a_horizon_over_the_apis_limit_is_one_sentence_and_the_box_stops_there(
    stack: Stack, browser: BrowserContext
) -> None:
    page = browser.new_page()
    page.goto(stack.urls["demo"])
    box = page.get_by_label(re.compile(r"^Horizon \("))
    box.fill("1000")
    page.get_by_role("button", name="Forecast").click()
    limit = "The API forecasts at most 365 periods ahead: ask for 365 or fewer."
    expect(page.get_by_text(limit)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    expect(box).to_have_value("365")
    page.screenshot(path=str(SCREENSHOTS / "e2e-demo-over-limit.png"))
    page.close()
