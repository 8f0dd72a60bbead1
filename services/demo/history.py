"""The series drawn behind the forecast: a `ds,y` CSV named by `DEMO_HISTORY` (path or URL), or
a long `unique_id,ds,y` CSV of many series, of which the one picked is drawn.

The API serves forecasts, not training data, so the demo is told where the history is;
`mlstack up` points it at the data the first model was trained on.
"""

from __future__ import annotations

import pandas as pd

from services.demo.settings import DemoSettings

ID = "unique_id"


def load(uri: str | None = None, series: str | None = None) -> pd.DataFrame | None:
    """The `ds,y` history (of `series`, from a CSV with a `unique_id` column), or None when none
    is configured, it cannot be read, or it does not hold that series."""
    uri = uri if uri is not None else DemoSettings().demo_history
    if not uri:
        return None
    try:
        frame = pd.read_csv(
            uri.removeprefix("file://"),
            usecols=lambda column: column in {ID, "ds", "y"},
            dtype={ID: str},
        )
        if ID in frame.columns:
            if series is None and frame[ID].nunique() != 1:
                return None  # which of its series is the model's one is unknown
            frame = frame if series is None else frame[frame[ID] == series]
        elif series is not None:
            return None  # one series' history, and a model of several
        frame = frame[["ds", "y"]].assign(ds=pd.to_datetime(frame["ds"]))
    except (OSError, ValueError, KeyError):
        return None  # the forecast is still worth showing without its history
    return frame.sort_values("ds") if len(frame) else None
