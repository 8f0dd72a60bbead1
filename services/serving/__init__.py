"""The serving API: follows `models:/<name>@<alias>` and serves forecasts over HTTP."""
