"""The series drawn behind the forecast: by default the points the served version was fitted on,
from the API (`client.history`), so the chart follows `@prod` wherever it moves. `DEMO_HISTORY`
overrides it with a `ds,y` CSV (path or URL), or a long `unique_id,ds,y` CSV of many series, of
which the one picked is drawn.

`load` answers the history to draw, or one sentence saying why there is none (the page shows it
as a caption: the forecast is still worth showing without its history).
"""

from __future__ import annotations

import pandas as pd

from services.demo import client
from services.demo.settings import DemoSettings

ID = "unique_id"


def load(api: client.Api, series: str | None, version: str) -> pd.DataFrame | str:
    """The `ds,y` history of the served model's series (`series`, for a model of several), whose
    forecast came from `version`: `DEMO_HISTORY`'s when it is set, else the API's."""
    uri = DemoSettings().demo_history
    if uri:
        found = from_csv(uri, series)
        if found is None:
            holding = "a `ds,y` series" if series is None else f"the series {series!r}"
            return f"DEMO_HISTORY ({uri}) holds no readable history of {holding}: none drawn."
        return found
    return from_api(api, series, version)


def from_api(api: client.Api, series: str | None, version: str) -> pd.DataFrame | str:
    """The served version's own last points, when the version is still `version`."""
    try:
        answer = client.history(api, series)
    except client.ApiError as exc:
        return f"No history drawn: {exc}"
    if answer["model"]["version"] != version:
        return f"The API now serves version {answer['model']['version']}: forecast again."
    frame = pd.DataFrame(answer["history"], columns=["ds", "y"])
    return frame.assign(ds=pd.to_datetime(frame["ds"])) if len(frame) else "No history drawn."


def from_csv(uri: str, series: str | None = None) -> pd.DataFrame | None:
    """The `ds,y` history (of `series`, from a CSV with a `unique_id` column), or None when it
    cannot be read or does not hold that series."""
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
        return None
    return frame.sort_values("ds") if len(frame) else None
