"""`mlstack tracking`: the MLflow tracking server, started only on a store it can write."""
