"""`Env`: a service's environment as one typed value.

Each field is one variable, named as the field in upper case: the rule pydantic-settings reads a
service's settings by, so the service's settings class builds on the same model
(`services/serving/settings.py` on `ApiEnv`) and no variable name is written anywhere else. The
deployment writes only the fields it sets; the rest stay the service's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr

V = TypeVar("V")  # a value known only at deploy time: `pulumi.Input[str]`


def _text(value: object) -> str:
    """A field's value as its variable holds it: what the settings class reads back."""
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))  # a comma list, as the settings split it
    if isinstance(value, bool):
        return str(value).lower()  # as written by hand: ALLOW_FOREIGN_MODELS=true
    return str(value)


class Env(BaseModel):
    """A service's variables: subclass it with one field per variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable that holds `field`."""
        if field not in cls.model_fields:
            raise KeyError(f"{cls.__name__} has no field {field!r}")
        return field.upper()

    def to_env(self) -> dict[str, str]:
        """The variables of the fields set explicitly, in the order the fields are declared."""
        return {self.env_name(name): _text(getattr(self, name)) for name in self._written({})}

    def with_inputs(self, inputs: Mapping[str, V | None]) -> dict[str, str | V]:
        """`to_env()` with the fields named in `inputs` given values known only at deploy time
        (Pulumi outputs: not checked here; None leaves a field out), in the fields' order."""
        given = {name: value for name, value in inputs.items() if value is not None}
        return {
            self.env_name(name): given[name] if name in given else _text(getattr(self, name))
            for name in self._written(given)
        }

    def _written(self, inputs: Mapping[str, object]) -> list[str]:
        for name in inputs:
            self.env_name(name)  # a KeyError names a field that does not exist
        fields = type(self).model_fields
        return [name for name in fields if name in self.model_fields_set or name in inputs]

    def __or__(self, other: Self) -> Self:
        """This value with the fields `other` sets taken from `other`, checked again."""
        values = {name: getattr(self, name) for name in self.model_fields_set}
        values |= {name: getattr(other, name) for name in other.model_fields_set}
        return self.model_validate(values)


def given(**values: object) -> dict[str, str]:
    """NAME=value for each value given (None leaves the variable to the spec or the image), for
    services whose variables are not yet an `Env`."""
    return {name: str(value) for name, value in values.items() if value is not None}
