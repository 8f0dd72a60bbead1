"""`mlstack tracking`: the MLflow tracking server, started only on a store it can write; and
`mlstack db-upgrade`: its PostgreSQL schema upgraded before the servers start, once."""
