"""MLflow's credentials on Kubernetes: one Secret per holder, read through `secretKeyRef`.

The server's Secret holds every password it keeps its users in step with (services/tracking/
auth.py) and the key that signs its CSRF tokens; the writer's (trainer, scorer) and the
reader's (API) each hold only their own password, so a pod gets only its identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from contract.tracking import (
    ADMIN_PASSWORD_ENV,
    CLIENT_PASSWORD_ENV,
    CLIENT_USERNAME_ENV,
    READER,
    READER_PASSWORD_ENV,
    SECRET_KEY_ENV,
    TRACKING,
    WRITER,
    WRITER_PASSWORD_ENV,
    auth_env,
)
from infra.naming import labels, res_name
from infra.options import child_options

EnvVars = tuple[k8s.core.v1.EnvVarArgs, ...]
# The server's secret variables, by their key in its Secret.
_SERVER_KEYS = {
    ADMIN_PASSWORD_ENV: "admin-password",
    SECRET_KEY_ENV: "secret-key",
    WRITER_PASSWORD_ENV: "writer-password",
    READER_PASSWORD_ENV: "reader-password",
}
PASSWORD_KEY = "password"  # in the writer's and the reader's Secrets


@dataclass(frozen=True)
class TrackingAuthArgs:
    namespace: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    writer_password: pulumi.Input[str]
    reader_password: pulumi.Input[str]
    reader_model: str  # the registered model the reader may read


def _from_secret(variable: str, secret: k8s.core.v1.Secret, key: str) -> k8s.core.v1.EnvVarArgs:
    selector = k8s.core.v1.SecretKeySelectorArgs(name=secret.metadata.name, key=key)
    return k8s.core.v1.EnvVarArgs(
        name=variable, value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=selector)
    )


def _plain(env: dict[str, pulumi.Input[str]]) -> EnvVars:
    return tuple(k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in env.items())


class TrackingAuth(pulumi.ComponentResource):
    """Three Secrets (the server's, the writer's, the reader's) and the variables that read
    them: `server_env` for MLflow, `writer_env` for the trainer and scorer, `reader_env` for the
    API."""

    server_env: EnvVars
    writer_env: EnvVars
    reader_env: EnvVars

    def __init__(
        self, name: str, args: TrackingAuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:TrackingAuth", name, None, opts)
        self._child, self._name, self._args = (
            child_options(self, opts),
            res_name(name, TRACKING.name),
            args,
        )
        env = auth_env(
            admin_password=args.admin_password,
            secret_key=args.secret_key,
            writer_password=args.writer_password,
            reader_password=args.reader_password,
            reader_model=args.reader_model,
        )
        server = self._secret("auth", {_SERVER_KEYS[v]: env[v] for v in _SERVER_KEYS})
        names = {v: value for v, value in env.items() if v not in _SERVER_KEYS}
        self.server_env = (
            *_plain(names),
            *(_from_secret(variable, server, key) for variable, key in _SERVER_KEYS.items()),
        )
        self.writer_env = self._identity("writer", WRITER, args.writer_password)
        self.reader_env = self._identity("reader", READER, args.reader_password)
        self.register_outputs({"server_secret": server.metadata.name})

    def _secret(self, role: str, data: dict[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
        name = f"{self._name}-{role}"
        meta = k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._args.namespace, labels=labels(TRACKING.name, "tracking")
        )
        return k8s.core.v1.Secret(name, metadata=meta, string_data=data, opts=self._child)

    def _identity(self, role: str, username: str, password: pulumi.Input[str]) -> EnvVars:
        secret = self._secret(role, {PASSWORD_KEY: password})
        return (
            k8s.core.v1.EnvVarArgs(name=CLIENT_USERNAME_ENV, value=username),
            _from_secret(CLIENT_PASSWORD_ENV, secret, PASSWORD_KEY),
        )
