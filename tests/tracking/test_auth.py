"""MLflow behind authentication, against a real server started as the stack starts it
(`mlstack tracking` with the auth variables): nobody without credentials gets anything, the
writer trains and promotes, and the API's reader loads `@prod` but can neither register a
version nor move the alias."""

from __future__ import annotations

import base64
import json
import secrets
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.api import PROD_ALIAS
from contract.tracking import READER, WRITER, auth_env, client_env
from services.local import process
from services.registry import ClientRegistry
from services.serving.loader import MlflowLoader
from services.tracking import auth
from services.trainer.config import TrainConfig
from services.trainer.run import train

pytestmark = pytest.mark.mlflow  # a real MLflow server of its own
MODEL = "secured"


@dataclass(frozen=True)
class SecuredServer:
    uri: str
    env: dict[str, str]  # the server's auth variables

    def client(self, who: str) -> dict[str, str]:
        """A client's variables for the writer or the reader."""
        password = self.env[f"TRACKING_{who}_PASSWORD"]
        return client_env(self.env[f"TRACKING_{who}_USERNAME"], password)  # type: ignore[return-value]


def become(patch: pytest.MonkeyPatch, server: SecuredServer, who: str) -> None:
    """MLflow's client (and the API's registry) speak as `who` from now on."""
    for name, value in server.client(who).items():
        patch.setenv(name, value)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    env = auth_env(
        admin_password=secrets.token_urlsafe(24),
        secret_key=secrets.token_urlsafe(24),
        writer_password=secrets.token_urlsafe(24),
        reader_password=secrets.token_urlsafe(24),
        reader_model=MODEL,
    )
    uri, proc = process.start_tracking_server(tmp_path_factory.mktemp("secured"), auth=env)
    yield SecuredServer(uri, env)
    process.stop(proc)


@pytest.fixture(scope="module")
def promoted(server: SecuredServer) -> str:
    """The writer's first training of MODEL, which takes `@prod`: its version."""
    with pytest.MonkeyPatch.context() as patch:
        become(patch, server, "WRITER")
        config = TrainConfig(
            mlflow_tracking_uri=server.uri,
            model_name=MODEL,
            experiment_name="secured",
            families=("seasonal_naive",),
        )
        summary = train(config)
    assert summary.promoted
    return str(summary.version)


def call(server: SecuredServer, endpoint: str, body: dict[str, str] | None, who: str | None) -> int:
    """The status of one REST call (GET without a body), as `who` or without credentials."""
    url = f"{server.uri}/api/2.0/mlflow/{endpoint}"
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if who is not None:
        creds = server.client(who)
        pair = f"{creds['MLFLOW_TRACKING_USERNAME']}:{creds['MLFLOW_TRACKING_PASSWORD']}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


CREATE_VERSION = ("model-versions/create", {"name": MODEL, "source": "models:/m-0"})
MOVE_PROD = ("registered-models/alias", {"name": MODEL, "alias": PROD_ALIAS, "version": "1"})
CREATE_MODEL = ("registered-models/create", {"name": "intruder"})


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [("experiments/search?max_results=1", None), CREATE_MODEL, CREATE_VERSION, MOVE_PROD],
)
def test_a_request_without_credentials_is_refused_with_401(server, promoted, endpoint, body):
    assert call(server, endpoint, body, who=None) == 401


def test_a_wrong_password_is_refused_with_401(server):
    server = SecuredServer(server.uri, {**server.env, "TRACKING_READER_PASSWORD": "not-it"})
    assert call(server, "experiments/search?max_results=1", None, who="READER") == 401


def test_the_writer_trains_and_promotes_its_model_to_prod(server, promoted, monkeypatch):
    from mlflow.tracking import MlflowClient

    become(monkeypatch, server, "WRITER")
    prod = MlflowClient(server.uri).get_model_version_by_alias(MODEL, PROD_ALIAS)
    assert prod.version == promoted


def test_a_model_never_trained_is_unset_to_the_writer_though_mlflow_answers_403(
    server: SecuredServer, promoted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    become(monkeypatch, server, "WRITER")
    client = MlflowClient(server.uri)
    with pytest.raises(MlflowException, match="403"):  # not 404: what a first training meets
        client.get_model_version_by_alias("never-trained", PROD_ALIAS)
    registry = ClientRegistry(client)
    assert registry.version("never-trained", PROD_ALIAS) is None
    assert registry.version(MODEL, PROD_ALIAS).version == promoted  # type: ignore[union-attr]


def test_the_reader_loads_prod_with_the_apis_loader(server, promoted, monkeypatch):
    become(monkeypatch, server, "READER")
    loader = MlflowLoader(server.uri)
    version = loader.resolve(MODEL, PROD_ALIAS)
    assert version is not None and version.version == promoted
    model = loader.load(version)
    assert model is not None


# Not refused: creating a new registered model, which MLflow grants every user when workspaces are
# off; the reader then owns that model, and nothing it serves (README, Security).
@pytest.mark.parametrize(("endpoint", "body"), [CREATE_VERSION, MOVE_PROD])
def test_the_reader_may_neither_register_nor_move_prod(server, promoted, endpoint, body):
    assert call(server, endpoint, body, who="READER") == 403


def test_the_reader_reads_only_its_own_model(server, promoted):
    call(server, *CREATE_MODEL, who="WRITER")
    assert call(server, "registered-models/get?name=intruder", None, who="READER") == 403
    assert call(server, "registered-models/get?name=intruder", None, who="WRITER") == 200


def test_identities_are_named_after_their_roles(server):
    assert server.env["TRACKING_WRITER_USERNAME"] == WRITER
    assert server.env["TRACKING_READER_USERNAME"] == READER


def test_a_partial_configuration_is_refused_naming_what_is_missing():
    env = auth_env(
        admin_password="a" * 20,
        secret_key="",
        writer_password="w" * 20,
        reader_password="r" * 20,
        reader_model=MODEL,
    )
    with pytest.raises(auth.AuthConfigError, match="MLFLOW_FLASK_SERVER_SECRET_KEY"):
        auth.settings(env)  # type: ignore[arg-type]


def test_no_admin_password_means_no_authentication():
    assert auth.settings({}) is None


def test_the_config_file_is_readable_by_its_owner_only(tmp_path: Path):
    path = auth.write_config("sqlite:///x.db?a=%20", folder=tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "NO_PERMISSIONS" in path.read_text()


def test_a_restart_with_new_passwords_retires_the_old_ones(tmp_path: Path):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    database = f"sqlite:///{tmp_path / 'mlflow.db'}"
    old, new = (
        auth.settings(auth_env(**dict.fromkeys(PASSWORDS, word * 20), reader_model=MODEL))
        for word in ("old", "new")
    )
    assert old is not None and new is not None
    auth.provision(database, old)
    auth.provision(database, new)  # the next start
    store = SqlAlchemyStore()
    store.init_db(database)
    assert store.authenticate_user(READER, "new" * 20)
    assert not store.authenticate_user(READER, "old" * 20)
    assert not store.get_user(WRITER).is_admin


PASSWORDS = ("admin_password", "secret_key", "writer_password", "reader_password")
