"""`mlstack score` on a schedule: a CronJob of the trainer's pod with the scorer's command, and
the accuracy alerts' settings, from the stack config."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from k8s.harness import EKS_SETTINGS, PROJECT, Graph, minikube, program, stack_config

import monitoring
from contract.trainer import SCORER, TRAINER, TrainEnv
from infra.naming import selector_labels
from stacks.loading import load

CRON = "kubernetes:batch/v1:CronJob"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
WEEKLY = {"trainer_schedule": "0 3 * * 0"}


def cron_jobs(graph: Graph) -> dict[str, dict[str, Any]]:
    return {c.manifest["metadata"]["name"]: c.manifest for c in graph.of_type(CRON)}


def template(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def test_retraining_on_a_schedule_scores_hourly_by_default() -> None:
    jobs = cron_jobs(program("minikube", WEEKLY))
    assert set(jobs) == {"mlstack-trainer-scheduled", "mlstack-trainer-score"}
    score = jobs["mlstack-trainer-score"]["spec"]
    assert score["schedule"] == "0 * * * *"
    assert score["concurrencyPolicy"] == "Forbid"


def test_the_score_job_runs_mlstack_score_in_the_trainer_s_pod() -> None:
    graph = program("minikube", WEEKLY)
    jobs = cron_jobs(graph)
    (training,) = graph.of_type("kubernetes:batch/v1:Job")
    trainer, scorer = template(training.manifest), template(jobs["mlstack-trainer-score"])
    (train_box,) = trainer["spec"]["containers"]
    (score_box,) = scorer["spec"]["containers"]
    assert [score_box["name"], *score_box["command"], *score_box["args"]] == [
        SCORER.name,
        *SCORER.args,
    ]
    # Everything else is the trainer's: image, env (data, MLflow, model), resources, security.
    same = {k: v for k, v in score_box.items() if k not in ("name", "args")}
    assert same == {k: v for k, v in train_box.items() if k not in ("name", "args")}
    assert {k: v for k, v in scorer["spec"].items() if k != "containers"} == {
        k: v for k, v in trainer["spec"].items() if k != "containers"
    }
    assert scorer["metadata"] == trainer["metadata"]  # labels: the same network access
    job_spec = jobs["mlstack-trainer-score"]["spec"]["jobTemplate"]["spec"]
    assert {k: v for k, v in job_spec.items() if k != "template"} == {
        k: v for k, v in training.manifest["spec"].items() if k != "template"
    }


def test_mlflow_admits_the_score_pods_as_it_admits_the_trainer() -> None:
    graph = program("minikube", WEEKLY)
    policy = graph.one(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        lambda r: r.manifest["metadata"]["name"] == "mlstack-mlflow-network",
    ).manifest
    allowed = [p["podSelector"]["matchLabels"] for p in policy["spec"]["ingress"][0]["from"]]
    assert selector_labels(TRAINER.name, "training") in allowed
    labels = template(cron_jobs(graph)["mlstack-trainer-score"])["metadata"]["labels"]
    assert selector_labels(TRAINER.name, "training").items() <= labels.items()


def test_a_score_schedule_of_its_own_needs_no_retraining_schedule() -> None:
    jobs = cron_jobs(program("eks", {**EKS_SETTINGS, "score_schedule": "*/30 * * * *"}))
    assert set(jobs) == {"mlstack-trainer-score"}
    assert jobs["mlstack-trainer-score"]["spec"]["schedule"] == "*/30 * * * *"


def test_off_turns_scoring_off_beside_a_retraining_schedule() -> None:
    assert set(cron_jobs(program("minikube", {**WEEKLY, "score_schedule": "off"}))) == {
        "mlstack-trainer-scheduled"
    }


def _objects(graph: Graph) -> list[str]:
    """Every resource, type, name and inputs, in a stable order."""
    return sorted(json.dumps([r.typ, r.name, r.manifest], sort_keys=True) for r in graph.resources)


def test_without_any_schedule_the_graph_is_what_it_was_before_scoring() -> None:
    # No score CronJob, and the alert rules exactly as the checked-in file (its defaults).
    default = minikube()
    assert default.of_type(CRON) == []
    assert _objects(program("minikube", {"score_schedule": "off"})) == _objects(default)
    rule = default.one(RULE)
    assert rule.manifest["spec"]["groups"] == monitoring.rule_groups()


def _recorded(graph: Graph) -> dict[str, str]:
    rule = graph.one(RULE)
    return {
        r["record"]: r["expr"]
        for group in rule.manifest["spec"]["groups"]
        for r in group["rules"]
        if "record" in r
    }


def test_the_stack_config_sets_the_accuracy_alert_settings() -> None:
    graph = program("minikube", {"forecast_degradation_ratio": "2.5", "score_max_age_hours": "24"})
    assert _recorded(graph) == {
        "mlstack:forecast_degradation_ratio": "vector(2.5)",
        "mlstack:forecast_score_max_age_seconds": "vector(86400)",
    }


def test_the_score_job_and_the_trainer_read_the_promotion_policy_of_the_stack_config() -> None:
    policy = {
        "promotion": "realised",
        "min_realised_points": "24",
        "promotion_significance": "0.01",
    }
    graph = program("minikube", {**WEEKLY, **policy})
    (training,) = graph.of_type("kubernetes:batch/v1:Job")
    pods = [template(training.manifest), *map(template, cron_jobs(graph).values())]
    assert len(pods) == 3  # the Job, the retraining and the scoring CronJobs
    for pod in pods:
        (box,) = pod["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in box["env"]}
        read = TrainEnv.model_validate({k: env[k.upper()] for k in policy})  # as the trainer reads
        assert (read.promotion, read.min_realised_points, read.promotion_significance) == (
            "realised",
            24,
            0.01,
        )
    # By default the trainer's own default: backtest, as before.
    (box,) = template(cron_jobs(program("minikube", WEEKLY))["mlstack-trainer-score"])["spec"][
        "containers"
    ]
    assert {"name": "PROMOTION", "value": "backtest"} in box["env"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("score_schedule", "hourly", "score_schedule: 'hourly' is not a 5-field cron schedule"),
        ("forecast_degradation_ratio", "0.8", "forecast_degradation_ratio: "),
        ("score_max_age_hours", "0", "score_max_age_hours: "),
        ("promotion", "always", "promotion: "),
        ("min_realised_points", "0", "min_realised_points: "),
        ("promotion_significance", "1", "promotion_significance: "),
    ],
)
def test_bad_scoring_settings_name_the_key(key: str, value: str, message: str) -> None:
    config, secret_keys = stack_config("minikube", {key: value})
    pulumi.runtime.set_all_config(config, secret_keys)
    with pytest.raises(pulumi.RunError, match=message):
        load(pulumi.Config(PROJECT))
