"""The trainer: a Job per image and data version, an optional CronJob for retraining, and an
optional CronJob that scores the served forecasts (`mlstack score`) with the same pod."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from contract.service import ServiceSpec
from contract.trainer import SCORER, TRAINER, TrainEnv
from infra import netpol, pod
from infra.naming import labels, res_name, selector_labels
from infra.options import child_options

RESOURCES = pod.Resources(
    cpu_request="500m", memory_request="512Mi", cpu_limit="2", memory_limit="2Gi"
)


@dataclass(frozen=True)
class TrainerArgs:
    namespace: pulumi.Input[str]
    image: str
    pull_policy: str
    tracking_uri: pulumi.Input[str]
    data_uri: pulumi.Input[str]
    data_fingerprint: str  # a digest of the training data, so new data means a new Job
    model_name: str
    experiment_name: str
    schedule: str = ""  # cron; empty means no CronJob
    score_schedule: str = ""  # cron of `mlstack score`; empty means none
    dask_scheduler_address: pulumi.Input[str] | None = None  # fit there, not in a process pool
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    resources: pod.Resources = RESOURCES
    # What its pods may reach besides DNS (MLflow, the data, the Dask cluster); nothing reaches
    # them.
    egress: tuple[netpol.Rule, ...] = ()
    # MLflow's writer identity, from a Secret (infra/tracking_auth.py: `writer_env`).
    credentials_env: tuple[k8s.core.v1.EnvVarArgs, ...] = ()
    # The trainer's settings the stack chooses (the promotion policy); the fields above add
    # where MLflow, the data and the model are.
    settings: TrainEnv = field(default_factory=TrainEnv)

    def __post_init__(self) -> None:
        if not self.data_fingerprint:
            raise ValueError("data_fingerprint must not be empty")


def job_suffix(image: str, fingerprint: str) -> str:
    """Eight hex digits that change whenever the image or the data does."""
    return hashlib.sha256(f"{image}|{fingerprint}".encode()).hexdigest()[:8]


class Trainer(pulumi.ComponentResource):
    """ServiceAccount, a Job named after its image and data (a change re-runs training), a
    CronJob with the same pod when a schedule is set, and one running `mlstack score` in that
    pod (same image, env, data, resources, security and labels, so the same network access)
    when a score schedule is set; and the NetworkPolicy of those pods: nothing in, `egress`
    out."""

    job: k8s.batch.v1.Job
    cron_job: k8s.batch.v1.CronJob | None
    score_job: k8s.batch.v1.CronJob | None
    job_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TrainerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Trainer", name, None, opts)
        child = child_options(self, opts)
        self._args, self._name = args, res_name(name, TRAINER.name)
        self._labels = labels(TRAINER.name, "training")
        account = k8s.core.v1.ServiceAccount(
            self._name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self._name,
                namespace=args.namespace,
                labels=self._labels,
                annotations=dict(args.service_account_annotations),
            ),
            automount_service_account_token=False,
            opts=child,
        )
        template = self._pod(account.metadata.name, TRAINER)
        job_name = f"{self._name}-{job_suffix(args.image, args.data_fingerprint)}"
        self.job = k8s.batch.v1.Job(
            job_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=job_name,
                namespace=args.namespace,
                labels=self._labels,
                annotations=self._accepted_findings(),
            ),
            spec=self._job_spec(template),
            # `pulumi up` waits for training to finish, so the API that needs a model starts
            # after it; training the bundled data takes minutes, not hours.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m")
                ),
            ),
        )
        self.cron_job = (
            self._cron_job("scheduled", args.schedule, template, child) if args.schedule else None
        )
        self.score_job = None
        if args.score_schedule:
            scorer = self._pod(account.metadata.name, SCORER)
            self.score_job = self._cron_job("score", args.score_schedule, scorer, child)
        selector = selector_labels(TRAINER.name, "training")
        name = self._name + netpol.SUFFIX
        meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=self._labels)
        netpol.policy(name, meta, selector, (), args.egress, child)
        self.job_name = self.job.metadata.name
        self.register_outputs({"job_name": self.job_name})

    def _irsa_token(self) -> bool:
        """The token is only needed to assume the IRSA role that reads S3."""
        return bool(self._args.service_account_annotations)

    def _accepted_findings(self) -> dict[str, str]:
        return pod.accepted_findings(self._irsa_token(), bool(self._args.credentials_env))

    def _env(self) -> dict[str, pulumi.Input[str]]:
        env = self._args.settings | TrainEnv(
            model_name=self._args.model_name, experiment_name=self._args.experiment_name
        )
        deployed: dict[str, pulumi.Input[str] | None] = {
            "mlflow_tracking_uri": self._args.tracking_uri,
            "data_uri": self._args.data_uri,
            "dask_scheduler_address": self._args.dask_scheduler_address,
        }
        # mypy solves the value type to `object` over a union that holds `str`: it is Input[str].
        return cast(dict[str, pulumi.Input[str]], env.with_inputs(deployed))

    def _pod(
        self, account: pulumi.Input[str], spec: ServiceSpec
    ) -> k8s.core.v1.PodTemplateSpecArgs:
        """The trainer's pod, running `spec`'s command (the trainer's, or the scorer's)."""
        main = pod.container(
            pod.ContainerArgs(
                spec=spec,
                image=self._args.image,
                pull_policy=self._args.pull_policy,
                env=self._env(),
                resources=self._args.resources,
                secret_env=self._args.credentials_env,
            )
        )
        return k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._labels),
            spec=k8s.core.v1.PodSpecArgs(
                service_account_name=account,
                automount_service_account_token=self._irsa_token(),
                restart_policy="Never",
                security_context=pod.pod_security(),
                containers=[main],
                volumes=[pod.scratch_volume()],
            ),
        )

    @staticmethod
    def _job_spec(template: k8s.core.v1.PodTemplateSpecArgs) -> k8s.batch.v1.JobSpecArgs:
        return k8s.batch.v1.JobSpecArgs(
            backoff_limit=2, active_deadline_seconds=3600, template=template
        )

    def _cron_job(
        self,
        role: str,
        schedule: str,
        template: k8s.core.v1.PodTemplateSpecArgs,
        child: pulumi.ResourceOptions,
    ) -> k8s.batch.v1.CronJob:
        name = f"{self._name}-{role}"
        return k8s.batch.v1.CronJob(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=self._args.namespace,
                labels=self._labels,
                annotations=self._accepted_findings(),
            ),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=schedule,
                # Two trainers racing for @prod is safe but wasteful; two scorers, the same.
                concurrency_policy="Forbid",
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._labels),
                    spec=self._job_spec(template),
                ),
            ),
            opts=child,
        )
