"""The Streamlit demo: pick a horizon and an interval level (and the series, when the model has
several), get a forecast from the serving API.

Everything it knows comes from the API through `client.py`; when the API is down or has no
model yet, the page says so and offers a retry, never a traceback.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from services.demo import chart, client, history


def _fail(message: str) -> NoReturn:
    st.error(message)
    st.button("Retry", type="primary")  # any click reruns the script, which is the retry
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")


def show_model(model: dict[str, Any]) -> None:
    smape = model.get("metrics", {}).get("smape")
    name, version, train_smape = st.columns(3)
    name.metric("Model", f"{model['name']}@{model.get('alias', 'prod')}")
    version.metric("Version", str(model["version"]))
    train_smape.metric("Training SMAPE", "n/a" if smape is None else f"{smape:.2f}%")


def series_ids(api: client.Api, model: dict[str, Any]) -> list[str] | None:
    """The ids to pick from: None for a model of one series (nothing to pick)."""
    if (model.get("series") or 1) <= 1:
        return None
    try:
        return client.series(api)
    except client.ApiError as exc:
        _fail(str(exc))


def ask(api: client.Api, ids: list[str] | None) -> None:
    with st.form("forecast"):
        series = None
        if ids is not None:  # Streamlit's selectbox filters its options as the user types
            series = st.selectbox(f"Series ({len(ids):,}; type to search)", ids)
        horizon = st.number_input("Horizon (periods)", min_value=1, value=12, step=1)
        level = st.slider("Interval level", min_value=0.5, max_value=0.99, value=0.9, step=0.01)
        submitted = st.form_submit_button("Forecast", type="primary")
    if submitted:
        try:
            result = client.forecast(api, int(horizon), float(level), series)
        except client.ApiError as exc:
            _fail(str(exc))
        st.session_state["result"] = (result, float(level), series)


def _history_before(forecast: pd.DataFrame, series: str | None) -> pd.DataFrame | None:
    past = history.load(series=series)
    if past is None:
        if series is None:
            st.caption("Set DEMO_HISTORY to the series' `ds,y` CSV to draw its history too.")
        else:
            st.caption(
                f"Set DEMO_HISTORY to a `unique_id,ds,y` CSV holding {series!r} to draw its "
                "history too."
            )
        return None
    if past["ds"].max() >= forecast["ds"].min():
        st.caption("DEMO_HISTORY does not end before the forecast starts, so it is not drawn.")
        return None
    return past


def show_forecast(result: dict[str, Any], level: float, series: str | None = None) -> None:
    served = result["model"]
    frame = chart.forecast_frame(result["forecast"])
    of = "" if series is None else f" of {series}"
    st.subheader(f"{len(frame)} periods{of} from {served['name']} version {served['version']}")
    st.altair_chart(chart.build(frame, _history_before(frame, series), level), width="stretch")
    table = frame.assign(ds=frame["ds"].dt.strftime("%Y-%m-%d"))
    st.dataframe(table, hide_index=True)
    st.download_button(
        "Download CSV",
        table.to_csv(index=False),
        file_name=f"forecast-{served['name']}-v{served['version']}{_suffix(series)}.csv",
        mime="text/csv",
    )


def _suffix(series: str | None) -> str:
    return "" if series is None else f"-{series}"


def main() -> None:
    st.set_page_config(page_title="Forecast demo", layout="wide")
    api = client.Api.from_env()
    st.title("Forecast demo")
    st.caption(f"Serving API: {api.url}")
    try:
        model = client.get_model(api)
    except client.ApiError as exc:
        _fail(str(exc))
    show_model(model)
    ask(api, series_ids(api, model))
    if "result" in st.session_state:
        show_forecast(*st.session_state["result"])


main()
