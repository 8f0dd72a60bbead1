"""The Streamlit demo: pick a horizon and an interval level (and the series, when the model has
several), get a forecast from the serving API, drawn after the points the served version was
fitted on (or `DEMO_HISTORY`'s).

Everything it knows comes from the API through `client.py`; when the API is down or has no
model yet, the page says so and offers a retry, never a traceback. A request the API refuses
is one plain sentence, and the horizon box stops at the API's own limit once it is known.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from services.demo import chart, client, history, periods
from services.demo.periods import PERIOD, Unit

DEFAULT_HORIZON = 12


def _fail(error: client.ApiError) -> NoReturn:
    st.error(str(error))
    if error.retryable:
        st.button("Retry", type="primary")  # any click reruns the script, which is the retry
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")


def show_model(model: dict[str, Any]) -> None:
    metrics, count = model.get("metrics", {}), model.get("series") or 1
    smape = metrics.get("smape", metrics.get("smape_mean"))  # smape_mean: a panel, before 0.2
    name, version, backtest = st.columns(3)
    name.metric("Model", f"{model['name']}@{model.get('alias', 'prod')}")
    version.metric("Version", str(model["version"]))
    backtest.metric(
        "Backtest SMAPE" if count <= 1 else f"Backtest SMAPE (mean of {count:,} series)",
        "n/a" if smape is None else f"{smape:.2f}%",
        help="On the last periods of the training data, held out and forecast"
        + ("" if count <= 1 else "; the API gives the mean over the model's series only"),
    )


def series_ids(api: client.Api, model: dict[str, Any]) -> list[str] | None:
    """The ids to pick from: None for a model of one series (nothing to pick)."""
    if (model.get("series") or 1) <= 1:
        return None
    try:
        return client.series(api)
    except client.ApiError as exc:
        _fail(exc)


@st.cache_data(ttl=300, show_spinner=False)
def _openapi_limit(api: client.Api) -> int | None:
    return client.horizon_limit(api)


def horizon_limit(api: client.Api) -> int | None:
    """The API's longest horizon: from its OpenAPI schema, else as its last refusal said."""
    return _openapi_limit(api) or st.session_state.get("horizon_max", {}).get(api.url)


def _unit(model: dict[str, Any]) -> Unit:
    """The served version's period, once one of its forecasts showed it."""
    return st.session_state.get("units", {}).get((model["name"], model["version"]), PERIOD)


def ask(api: client.Api, model: dict[str, Any], ids: list[str] | None) -> None:
    limit, unit = horizon_limit(api), _unit(model)
    if limit is not None and st.session_state.get("horizon", 0) > limit:
        st.session_state["horizon"] = limit  # before the box exists, which it then starts from
    with st.form("forecast"):
        series = None
        if ids is not None:  # Streamlit's selectbox filters its options as the user types
            series = st.selectbox(f"Series ({len(ids):,}; type to search)", ids)
        horizon = st.number_input(
            f"Horizon ({unit.plural})",
            min_value=1,
            max_value=limit,
            value=min(DEFAULT_HORIZON, limit or DEFAULT_HORIZON),
            step=1,
            key="horizon",
            help=None if limit is None else f"At most {unit.count(limit)}: the API's limit.",
        )
        level = st.slider("Interval level", min_value=0.5, max_value=0.99, value=0.9, step=0.01)
        submitted = st.form_submit_button("Forecast", type="primary")
    if submitted:
        st.session_state.pop("result", None)
        try:
            result = client.forecast(api, int(horizon), float(level), series)
        except client.ApiError as exc:
            _refused(api, exc, unit)
        past = history.load(api, series, result["model"]["version"])
        st.session_state["result"] = (result, float(level), series, past)
    if refusal := st.session_state.pop("refusal", None):
        st.error(refusal)  # no Retry button: the form's own button asks again


def _refused(api: client.Api, error: client.ApiError, unit: Unit) -> NoReturn:
    """Say why on the page drawn again, with the box bounded by the API's horizon limit when
    the refusal named it."""
    said, most = str(error), error.horizon_max
    if most is not None:
        st.session_state.setdefault("horizon_max", {})[api.url] = most
        said = f"The API forecasts at most {unit.count(most)} ahead: ask for {most:,} or fewer."
    st.session_state["refusal"] = said
    st.rerun()


def _before(past: pd.DataFrame | str, forecast: pd.DataFrame) -> pd.DataFrame | None:
    """The history to draw before `forecast`; a caption instead when there is none."""
    if isinstance(past, str):
        st.caption(past)
        return None
    if past["ds"].max() >= forecast["ds"].min():
        st.caption("The history does not end before the forecast starts, so it is not drawn.")
        return None
    return past


def show_forecast(
    result: dict[str, Any], level: float, series: str | None, loaded: pd.DataFrame | str
) -> None:
    served = result["model"]
    frame = chart.forecast_frame(result["forecast"])
    past = _before(loaded, frame)
    dates = frame["ds"] if past is None else pd.concat([past["ds"], frame["ds"]])
    unit = periods.unit_of(dates)
    units = st.session_state.setdefault("units", {})
    if units.get((served["name"], served["version"])) != unit:
        units[(served["name"], served["version"])] = unit
        st.rerun()  # the form above was drawn before this forecast told the model's period
    of = "" if series is None else f"{series}: "
    st.subheader(
        f"{of}{unit.count(len(frame))} ahead from {served['name']} version {served['version']}"
    )
    st.altair_chart(chart.build(frame, past, level, unit), width="stretch")
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
        _fail(exc)
    show_model(model)
    ask(api, model, series_ids(api, model))
    if "result" in st.session_state:
        show_forecast(*st.session_state["result"])


main()
