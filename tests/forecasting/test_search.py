import numpy as np
from statsmodels.datasets import sunspots

from services.forecasting.data import load_series
from services.forecasting.models import fit
from services.forecasting.search import drift, long_ar, search
from tests.conftest import AIRLINE

AIR = load_series(str(AIRLINE))
SUNSPOTS = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()


def test_drift_forecasts_the_last_value_plus_the_average_change():
    y = AIR.y
    forecast = fit(drift(False), y, 12).forecast(3).mean
    step = (y[-1] - y[0]) / (y.size - 1)
    np.testing.assert_allclose(forecast, y[-1] + step * np.arange(1, 4), rtol=1e-3)


def test_long_autoregression_reaches_the_eleven_year_sunspot_cycle():
    spec = long_ar(SUNSPOTS, log=False)
    assert spec.order is not None and spec.order[0] >= 8  # the stepwise search stops at 3
    assert spec.order[1:] == (0, 0) and spec.trend == "c"


def cycle(n: int = 300, seed: int = 0) -> np.ndarray:
    """A stationary series around 50 with an eight-step cycle (beyond AR(3))."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n + 100)
    for t in range(8, y.size):
        y[t] = 0.5 * y[t - 8] + rng.normal()
    return 50 + y[100:]


def test_search_adds_a_long_autoregression_only_when_no_differencing_is_needed():
    y = cycle()
    stationary = search(y, 1, log=False)
    assert stationary[0].order is not None and stationary[0].order[1] == 0
    assert len(stationary) == 2 and stationary[1] == long_ar(y, log=False)
    assert stationary[1].order is not None and stationary[1].order[0] >= 8
    (seasonal,) = search(AIR.y, 12, log=True)  # airline needs a seasonal difference
    assert seasonal.seasonal_order is not None and seasonal.seasonal_order[1] == 1


def test_long_autoregression_fits_short_series():
    spec = long_ar(AIR.y[:13], log=True)  # 10 log10(13) lags would leave nothing to fit
    assert spec.order is not None and spec.order[0] <= 3
