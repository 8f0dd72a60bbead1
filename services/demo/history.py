"""The series drawn behind the forecast: a `ds,y` CSV named by `DEMO_HISTORY` (path or URL).

The API serves forecasts, not training data, so the demo is told where the history is;
`mlstack up` points it at the series the first model was trained on.
"""

from __future__ import annotations

import pandas as pd

from services.demo.settings import DemoSettings


def load(uri: str | None = None) -> pd.DataFrame | None:
    """The `ds,y` history, or None when none is configured or it cannot be read."""
    uri = uri if uri is not None else DemoSettings().demo_history
    if not uri:
        return None
    try:
        frame = pd.read_csv(uri.removeprefix("file://"), usecols=["ds", "y"])
        frame["ds"] = pd.to_datetime(frame["ds"])
    except (OSError, ValueError):
        return None  # the forecast is still worth showing without its history
    return frame.sort_values("ds")
