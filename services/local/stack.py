"""`mlstack up`: MLflow, the trainer and the scorer (once, if `@prod` is unset), the API, the
demo, Prometheus.

Each service starts from its `ServiceSpec` in its own process group, waits for its readiness
probe, and is recorded in the state file; a failure during start-up, or a stop signal, stops
everything started, in reverse order, and the state directory (runs, models, logs) is kept for
next time. Once the stack is up, a service that exits is restarted (services/local/supervisor.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import TextIO

from contract.api import API
from contract.demo import DEMO
from contract.service import ServiceSpec
from contract.tracking import ADMIN, DB_UPGRADE, TRACKING
from contract.trainer import SCORER, TRAINER
from services.local import credentials, process, prometheus
from services.local.config import LocalConfig
from services.local.logs import LogPump, say
from services.local.signals import Shutdown, SignalGuard
from services.local.state import ServiceEntry, StackState, is_supervisor, start_ticks
from services.local.supervisor import Health, Supervisor
from services.registry import Connection, RegistryError, RestRegistry

# How long each service may take to become ready; the first MLflow start migrates its database.
READY_TIMEOUT = {"mlflow": 180.0, "api": 300.0, "demo": 120.0, "prometheus": 60.0}
# Logs reach the console as they are written, not when a pipe buffer fills, and without
# MLflow's download progress bars, which are unreadable once prefixed line by line.
QUIET_LOGS = {"PYTHONUNBUFFERED": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
# What `mlstack score` says when no actuals arrived after the forecasts it would score: expected
# right after the first training, which saw all the data there is.
NO_NEW_DATA = "not enough new data"


class StackError(RuntimeError):
    """A failure `mlstack up` explains in one message, naming the service, and stops on."""


@dataclass
class Started:
    spec: ServiceSpec
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    pump: LogPump
    url: str | None
    health: Health = field(default_factory=Health)

    @property
    def ready_url(self) -> str | None:
        return f"{self.url}{self.spec.ready_path}" if self.url and self.spec.ready_path else None

    def entry(self) -> ServiceEntry:
        pid, health = self.proc.pid, self.health
        where = (self.spec.name, pid, self.url, self.ready_url, start_ticks(pid))
        return ServiceEntry(*where, state=health.state, restarts=health.restarts)

    def failure(self, what: str) -> str:
        if self.proc.poll() is not None:
            self.pump.join()  # let its last words reach the tail
        tail = "\n".join(f"    {line}" for line in list(self.pump.tail)[-10:])
        return f"{what}\n  last lines of its log:\n{tail}" if tail else what


def prod_version(tracking_uri: str, model_name: str, connection: Connection) -> str | None:
    """The version behind `<model>@prod`, read with `connection`'s credentials, or None when
    the model or the alias does not exist (both mean "train first")."""
    try:
        version = RestRegistry(tracking_uri, 10.0, connection).version(model_name, "prod")
    except RegistryError as exc:
        raise StackError(f"mlflow: cannot read {model_name}@prod: {exc}") from None
    return None if version is None else version.version


class Stack:
    """The services one `mlstack up` started, in start order, and how it starts and stops them."""

    def __init__(self, cfg: LocalConfig, guard: SignalGuard, console: TextIO = sys.stdout) -> None:
        self.cfg = cfg
        self.guard = guard
        self.console = console
        self.started: list[Started] = []
        self.model: str | None = None
        self.owns_state = False  # never remove the state file of another running stack
        self.with_prometheus = prometheus.available()

    def plan(self) -> list[tuple[ServiceSpec, dict[str, str]]]:
        """The long-running services in start order, with their environments."""
        cfg = self.cfg
        services = [(TRACKING, cfg.tracking_env()), (API, cfg.api_env()), (DEMO, cfg.demo_env())]
        if self.with_prometheus:
            services.append((prometheus.spec(cfg), {}))
        return services

    def preflight(self) -> None:
        """Refuse to start anything when a port is taken or a command is missing."""
        self.cfg.logs.mkdir(parents=True, exist_ok=True)
        running = StackState.load(self.cfg.state_dir)
        if running and is_supervisor(running.pid):
            raise StackError(
                f"a stack is already running from {self.cfg.state_dir} (pid {running.pid}): "
                "see `mlstack status`, or stop it with `mlstack down`"
            )
        for spec, _env in [*self.plan(), (TRAINER, {}), (SCORER, {}), (DB_UPGRADE, {})]:
            for command in spec.commands:
                if process.executable(command) is None:
                    raise StackError(f"{spec.name}: command `{command}` not found")
        # A state file without its supervisor: an earlier `up` was killed before cleaning up.
        leftover = (
            " (an earlier `mlstack up` did not stop cleanly: `mlstack down`)" if running else ""
        )
        for spec, _env in self.plan():
            port = self.cfg.ports[spec.name]
            if process.port_in_use(port, self.cfg.host):
                raise StackError(
                    f"{spec.name}: port {port} on {self.cfg.host} is already in use; stop what "
                    f"holds it{leftover}, or pick another with --{spec.name}-port N "
                    "(0 picks a free port)"
                )
        if not self.with_prometheus:
            say(self.console, prometheus.HINT)

    def up(self) -> None:
        """Start every service in order, each once what it needs is ready."""
        self.preflight()
        users = credentials.path(self.cfg.state_dir)
        say(self.console, f"MLflow asks for a password: its users' are in {users}")
        services = self.plan()
        if self.cfg.tracking_db:
            self.upgrade_database()
        self.start(*services[0])
        self.train_if_needed()
        for spec, env in services[1:]:
            self.start(spec, env)
        self.save("up")

    def launch(self, spec: ServiceSpec, env: dict[str, str]) -> Started:
        with self.guard.held():  # a stop signal must not land between the start and the record
            proc, pump = self._spawn(spec, env)
            url = self.cfg.url(spec.name) if spec.port else None
            started = Started(spec, env, proc, pump, url)
            self.started.append(started)
            self.save("starting")
        return started

    def relaunch(self, started: Started) -> None:
        """Start a service that exited again, as it was started, in its place in the stack."""
        with self.guard.held():
            started.proc, started.pump = self._spawn(started.spec, started.env)
            self.save("up")

    def _spawn(
        self, spec: ServiceSpec, env: dict[str, str]
    ) -> tuple[subprocess.Popen[bytes], LogPump]:
        try:
            proc = process.start(
                spec, env | QUIET_LOGS, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise StackError(f"{spec.name}: cannot run `{spec.args[0]}`: {exc}") from None
        assert proc.stdout is not None
        log = self.cfg.logs / f"{spec.name}.log"
        return proc, LogPump(spec.name, proc.stdout, self.console, log)

    def start(self, spec: ServiceSpec, env: dict[str, str]) -> None:
        started = self.launch(spec, env)
        if started.url is None or spec.ready_path is None:
            return
        try:
            process.wait_ready(
                f"{started.url}{spec.ready_path}",
                started.proc,
                timeout=READY_TIMEOUT.get(spec.name, 120.0),
                name=spec.name,
            )
        except process.NotReady as exc:
            raise StackError(started.failure(str(exc))) from None

    def upgrade_database(self) -> None:
        """The PostgreSQL schema upgraded to this MLflow's before the server starts, as each
        pod's init container does (and, as there, never by two processes at once)."""
        started, code = self.run_once(DB_UPGRADE, self.cfg.tracking_env())
        if code != 0:
            raise StackError(started.failure(f"db-upgrade exited with code {code}"))

    def train_if_needed(self) -> None:
        cfg = self.cfg
        # As the admin: to the others, MLflow answers 403 for a model that does not exist yet.
        admin = Connection(username=ADMIN, password=cfg.credentials.admin_password)
        version = prod_version(cfg.url("mlflow"), cfg.model_name, admin)
        if version is None:
            say(self.console, f"{cfg.model_name}@prod is unset: training once on {cfg.data_uri}")
            self.train()
            version = prod_version(cfg.url("mlflow"), cfg.model_name, admin)
            if version is None:
                raise StackError(f"trainer: finished, but {cfg.model_name}@prod is still unset")
            self.score(SCORER)
        else:
            say(self.console, f"{cfg.model_name}@prod is version {version}: no training needed")
        self.model = f"{cfg.model_name}@prod = version {version}"

    def train(self) -> None:
        spec = TRAINER
        if self.cfg.families:
            spec = replace(TRAINER, args=(*TRAINER.args, "--families", self.cfg.families))
        started, code = self.run_once(spec)
        if code != 0:
            raise StackError(started.failure(f"trainer exited with code {code}"))

    def score(self, spec: ServiceSpec) -> None:
        """Score `@prod` once on the training data (`spec` is the scorer), so the API has
        accuracy to export. Nothing to score yet is the usual answer; a failing scorer is
        reported and the stack runs on without accuracy metrics, which only it needs."""
        say(self.console, f"scoring {self.cfg.model_name}@prod once on {self.cfg.data_uri}")
        started, code = self.run_once(spec)
        if code == 0:
            return
        if any(NO_NEW_DATA in line.lower() for line in started.pump.tail):
            say(self.console, "scorer: not enough new data to score yet; carrying on")
            return
        what = f"scorer exited with code {code}; the API exports no accuracy until a scoring"
        say(self.console, "warning: " + started.failure(what))

    def run_once(self, spec: ServiceSpec, env: dict[str, str] | None = None) -> tuple[Started, int]:
        """Run a batch command to its end, with `env` or else the trainer's (trainer, scorer)."""
        started = self.launch(spec, self.cfg.trainer_env() if env is None else env)
        code = started.proc.wait()
        started.pump.join()
        self.started.remove(started)
        return started, code

    def watch(self) -> None:
        """Keep the services up until a stop signal arrives: restart one that exits, and give
        up on one that keeps exiting (services/local/supervisor.py)."""
        supervisor = Supervisor(self, self.cfg.max_restarts, READY_TIMEOUT)
        tick = threading.Event()
        while True:
            supervisor.tick()
            tick.wait(0.5)

    def stop(self) -> None:
        """Stop everything started, newest first; keep the state directory."""
        self.guard.ignore_more()
        for started in reversed(self.started):
            say(self.console, f"stopping {started.spec.name}")
            process.stop(started.proc)
            started.pump.join()
        self.started.clear()
        if self.owns_state:
            StackState.clear(self.cfg.state_dir)

    def state(self, status: str = "up") -> StackState:
        entries = [started.entry() for started in self.started]
        return StackState(
            pid=os.getpid(),
            status=status,
            services=entries,
            model=self.model,
            model_name=self.cfg.model_name,
        )

    def save(self, status: str) -> None:
        self.owns_state = True
        self.state(status).save(self.cfg.state_dir)


def run(cfg: LocalConfig, console: TextIO = sys.stdout) -> int:
    """Run the stack in the foreground until a stop signal or a failure; the exit code."""
    guard = SignalGuard()
    with guard.installed():
        stack = Stack(cfg.resolved(), guard, console)
        try:
            stack.up()
            console.write(stack.state().table())
            console.flush()
            stack.watch()
        except Shutdown as exc:
            say(console, f"{exc} received: stopping the stack")
            return 0
        except StackError as exc:
            say(console, f"error: {exc}")
            return 1
        finally:
            started_any = bool(stack.started)
            stack.stop()
            if started_any:
                say(
                    console, f"stopped; {stack.cfg.state_dir} is kept, `mlstack up` resumes from it"
                )
    return 0
