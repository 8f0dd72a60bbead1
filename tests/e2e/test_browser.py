"""A real browser on the local stack: Debian's headless Chromium, driven by Playwright, against
`mlstack up --detach` exactly as a newcomer starts it; then a daily series of the user's own
trained into it, which the chart draws once the API serves it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from contract.tracking import WRITER, client_env
from services.forecasting.forecaster import HISTORY_POINTS
from services.local import credentials
from services.local.state import StackState
from tests.binaries import need
from tests.conftest import ROOT
from tests.factories import wait_for
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
    state_dir: Path


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
        yield Stack({s.name: s.url for s in state.services if s.url}, state.model, state_dir)
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
    expect(page.locator("g.history_marks path")).to_have_count(1)  # one line, its last 120 months
    expect(page.locator("g.forecast_line_marks path")).to_have_count(1)  # from the history's last
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


def daily_series(days: int = 200) -> pd.DataFrame:
    """A daily `ds,y` series of a user's own: a weekly season on a trend, with seeded noise."""
    t = np.arange(days)
    noise = np.random.default_rng(33).normal(0, 3, days)
    y = np.round(100 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 7) + noise, 1)
    ds = pd.date_range("2024-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame({"ds": ds, "y": y})


def train(stack: Stack, data: Path) -> str:
    """`mlstack train` of `data` into the stack's MLflow as its writer, replacing the served
    version (another frequency is never promoted without it); the new version."""
    writer = credentials.load_or_create(stack.state_dir).writer_password  # as the trainer's
    env = {**os.environ, "MLFLOW_TRACKING_URI": stack.urls["mlflow"], **client_env(WRITER, writer)}
    args = ["--data", str(data), "--families", "seasonal_naive", "--replace-served"]
    trained = subprocess.run(
        [MLSTACK, "train", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["promoted"], summary["reason"]
    return str(summary["version"])


def history_drawn(page: Page) -> list[tuple[str, float]]:
    """The (date, value) of every history point on the chart, read from each point's SVG label
    ("date: 21 Mar 2024; y: 120.3; series: history")."""
    labels = page.locator("g.history_points_marks path").evaluate_all(
        "paths => paths.map(path => path.getAttribute('aria-label'))"
    )
    drawn = []
    for label in labels:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        day = datetime.strptime(fields["date"], "%d %b %Y").strftime("%Y-%m-%d")
        drawn.append((day, float(fields["y"].replace(",", ""))))
    return drawn


def test_after_training_a_daily_series_the_chart_draws_its_own_history(
    stack: Stack, browser: BrowserContext, tmp_path: Path
) -> None:
    series = daily_series()
    data = tmp_path / "daily.csv"
    series.to_csv(data, index=False)
    version = train(stack, data)
    served = wait_for(
        lambda: httpx.get(f"{stack.urls['api']}/model", timeout=10).json().get("version"),
        what=f"the API to serve version {version} (@prod moved)",
        timeout=120,
        done=lambda found: found == version,
        every=1,
    )
    assert served == version

    page = browser.new_page()
    page.goto(stack.urls["demo"])
    expect(page.get_by_test_id("stMetricValue").nth(1)).to_have_text(version, timeout=WAIT_MS)
    page.get_by_label(re.compile(r"^Horizon \(")).fill("14")
    page.get_by_role("button", name="Forecast").click()
    expect(page.locator("g.forecast_points_marks path")).to_have_count(14, timeout=WAIT_MS)
    expect(page.get_by_text(f"14 days ahead from ForecastModel version {version}")).to_be_visible()

    own = series.tail(HISTORY_POINTS)
    assert history_drawn(page) == list(zip(own["ds"], own["y"].astype(float), strict=True))
    ticks = page.locator('g[aria-label^="X-axis"] .role-axis-label text').all_text_contents()
    assert ticks and all(tick.endswith("2024") for tick in ticks), ticks  # not 1949 to 2024
    SCREENSHOTS.mkdir(exist_ok=True)
    page.get_by_test_id("stVegaLiteChart").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "e2e-demo-history.png"))
    page.close()
