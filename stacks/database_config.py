"""The stack config's keys for MLflow's store: which database, how many servers, and on EKS the
RDS instance. Mixed into the target models of stacks/config.py, so the keys stay one flat set."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from stacks.fields import OptionalSecret

# The MLflow image's driver (psycopg 3) serves both spellings; no other database has one there.
POSTGRESQL_SCHEMES = ("postgresql://", "postgresql+psycopg://")
SNAPSHOT = (
    r"^$|^(arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:snapshot:|rds:)?[A-Za-z][A-Za-z0-9-]{0,254}$"
)


class MlflowStore(BaseModel):
    """Where MLflow keeps its registry: SQLite on its volume, or a PostgreSQL (on EKS by default
    an RDS instance the stack creates); with a database and artifacts off the volume, several
    servers."""

    mlflow_database_uri: OptionalSecret = None
    # Empty: external when mlflow_database_uri is set, else the target's first choice.
    mlflow_database: str = Field("", validate_default=True)
    mlflow_replicas: int = Field(2, ge=1)  # with a database and artifacts in S3; else one
    DATABASES: ClassVar[tuple[str, ...]] = ("sqlite", "external")

    @field_validator("mlflow_database_uri")
    @classmethod
    def _postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        # Never echo the value: it holds a password.
        if value is not None and not value.get_secret_value().startswith(POSTGRESQL_SCHEMES):
            raise ValueError(
                "is not a PostgreSQL URI (postgresql://{user}:{password}@{host}:5432/{database}): "
                "the MLflow image has PostgreSQL's driver only"
            )
        return value

    @field_validator("mlflow_database")
    @classmethod
    def _database(cls, value: str, info: ValidationInfo) -> str:
        uri = info.data.get("mlflow_database_uri")
        value = value.strip() or ("external" if uri is not None else cls.DATABASES[0])
        if value not in cls.DATABASES:
            raise ValueError(
                f"'{value}' is not a database of this target; valid values: "
                + ", ".join(cls.DATABASES)
            )
        if value == "external" and uri is None and "mlflow_database_uri" in info.data:
            raise ValueError("is external, so mlflow_database_uri must name the database")
        if value != "external" and uri is not None:
            raise ValueError(
                f"is {value}, yet mlflow_database_uri is set: set mlflow_database to external "
                "to use that database, or remove the URI"
            )
        return value


class RdsSettings(BaseModel):
    """The RDS instance of `mlflow_database: rds` (eks)."""

    mlflow_database_instance_class: str = Field(
        "db.t4g.small", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$"
    )
    mlflow_database_storage_gib: int = Field(20, ge=20, le=100)
    mlflow_database_multi_az: bool = False
    mlflow_database_backup_retention_days: int = Field(7, ge=1, le=35)
    mlflow_database_deletion_protection: bool = True
    mlflow_database_snapshot: str = Field("", pattern=SNAPSHOT)

    @field_validator("mlflow_database_snapshot", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value
