"""Reading the stack config: `load(pulumi.Config())` reads the keys of the target's model (lists
stored as JSON), names every unknown key and every bad value in one `pulumi.RunError`."""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import SecretStr, ValidationError

from stacks.config import MODELS, Config, MinikubeConfig, StackConfig
from stacks.errors import FOREIGN_KEYS, SECRET_FIELDS, format_errors


def _is_sequence(model: type[StackConfig], key: str) -> bool:
    annotation = model.model_fields[key].annotation
    return get_origin(annotation) in (tuple, list) or any(
        get_origin(arg) in (tuple, list) for arg in get_args(annotation)
    )


def _raw(cfg: pulumi.Config, model: type[StackConfig]) -> dict[str, Any]:
    """The model's keys as set in the stack; list-valued keys are stored as JSON."""
    raw: dict[str, Any] = {}
    for key in model.model_fields:
        if key in FOREIGN_KEYS:
            namespace, name = FOREIGN_KEYS[key].split(":")
            value = pulumi.Config(namespace).get(name)
        elif _is_sequence(model, key):
            value = _json_list(cfg.get(key))
        else:
            value = cfg.get(key)
        if value is not None:
            raw[key] = value
    return raw


def _json_list(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # the model reports it as not a list, naming the key


def _unknown_keys(cfg: pulumi.Config) -> list[str]:
    """Project keys no model knows, e.g. a typo like `node_desired_szie`."""
    known = {k for model in MODELS.values() for k in model.model_fields}
    prefix = f"{cfg.name}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return sorted(
        k.removeprefix(prefix)
        for k in keys
        if k.startswith(prefix) and k.removeprefix(prefix) not in known
    )


def parse(raw: dict[str, Any], plaintext: frozenset[str] | set[str] = frozenset()) -> Config:
    """Validate raw values into the target's model; `plaintext` names keys not stored as secrets."""
    target = str(raw.get("target", "minikube"))
    model = MODELS.get(target, MinikubeConfig)
    return model.model_validate(raw, context={"plaintext": plaintext})  # type: ignore[return-value]


def load(cfg: pulumi.Config) -> Config:
    """Read and validate the stack config, or stop with a `pulumi.RunError` that names each key."""
    target = cfg.get("target") or "minikube"
    model = MODELS.get(target, MinikubeConfig)
    raw = _raw(cfg, model)
    raw["target"] = target
    for key in _unknown_keys(cfg):
        raw[key] = cfg.get(key)
    plaintext = {k for k in SECRET_FIELDS if not runtime_config.is_config_secret(cfg.full_key(k))}
    try:
        return parse(raw, plaintext)
    except ValidationError as err:
        raise pulumi.RunError(format_errors(err)) from None


def secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    """A config secret as a Pulumi secret output, so it never lands in state in plain text."""
    return None if value is None else pulumi.Output.secret(value.get_secret_value())
