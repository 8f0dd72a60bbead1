"""The code MLflow logs as the model (models from code): loading a version runs this file, which
names the project's pyfunc, instead of unpickling an object (`pyfunc.py`)."""

from mlflow.models import set_model

from services.forecasting.pyfunc import ForecastModel

set_model(ForecastModel())
