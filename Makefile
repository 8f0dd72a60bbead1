# One entry point per task; every target installs what it needs itself.
SHELL := /bin/bash
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
# Debian packages the tests drive for real: promtool/prometheus, headless chromium, wrk,
# postgresql (MLflow on a real PostgreSQL: tests/postgres runs its own server, as an unprivileged
# user in a temporary directory), and podman to build the images and run the pods (runc,
# catatonit as kube play's pause process, netavark + aardvark-dns + iptables for pod networks
# with DNS, debootstrap for the base image).
APT_PACKAGES := prometheus chromium chromium-driver wrk postgresql \
  podman runc catatonit uidmap debootstrap netavark aardvark-dns iptables

.PHONY: help venv system-deps terraform-check test test-fast lint audit demo e2e bench bench-m3 bench-m1 \
  soak images base-image minikube-images clean

help:
	@echo "make demo   - run the whole stack locally (MLflow, trainer, API, Streamlit, Prometheus)"
	@echo "make test   - run every test (installs what it needs)"
	@echo "make test-fast - the unit tests, a few minutes: between commits (with make lint)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks side by side with mlflow models serve, M3 accuracy sample"
	@echo "make bench-m3 - all 3,003 M3 series beside statsforecast's references, and as panels"
	@echo "make bench-m1 - the held-out check: all 1,001 M1 series, the same code, run once"
	@echo "make soak   - API fuzzing, MLflow faults and model swaps under load (longer)"
	@echo "make e2e    - the demo driven in headless Chromium (screenshots/)"

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# The environment is rebuilt whenever the lock file changes: every extra for the tests and tools.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-extras --python python3
	touch $@

venv: $(VENV)/.synced

# `make demo` installs only what the local stack runs: the tracking server, the trainer (and
# scorer), the API and the Streamlit demo, each its image's extra (services/spec.py). --inexact
# keeps what a full sync installed, so `make demo` after `make test` removes nothing, and
# `make test` after `make demo` adds the rest.
DEMO_EXTRAS := mlflow train serve demo
$(VENV)/.synced-demo: uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact \
	  $(addprefix --extra ,$(DEMO_EXTRAS)) --python python3
	touch $@

system-deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null \
	  | grep -q "ok installed" || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES)) >/dev/null; \
	  else echo "missing $(APT_PACKAGES): install them with apt-get (tests that need them will say so)"; fi; \
	fi

# Terraform (tests/terraform: fmt and the variable validations) is in no registry we install
# from, so it is the one program `make test` cannot install: it says how to get it.
terraform-check:
	@command -v terraform >/dev/null || echo "terraform is not installed, so tests/terraform's \
	fmt and validation tests skip (under CI=true they fail): install Terraform >= 1.9 from \
	HashiCorp, https://developer.hashicorp.com/terraform/install" >&2

# Lint first: it is the quickest to fail. Then every test, the slow end-to-end ones included.
test: venv system-deps terraform-check lint
	$(VENV)/bin/pytest

# The unit tests, for use between commits: every test but those marked `slow` (end-to-end runs,
# scans of the whole tree, heavy reference fits) and those marked `mlflow` (tests/conftest.py
# marks each test whose fixtures reach the session's real MLflow server: it trains or registers
# models). Markers choose, not folders: a new test is in unless it is marked slow or uses MLflow.
# The slowest ten are listed, so one that belongs among the slow shows. `make test` and CI run all.
test-fast: venv
	$(VENV)/bin/pytest -m "not slow and not mlflow" --durations=10

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Known vulnerabilities in every locked dependency (all extras), from PyPI's advisory data. CI runs
# it (ci.yml, job audit); --strict fails when a package cannot be audited instead of passing it.
# Accepted advisories live in audit-ignore.txt, one per line with its reason. Where PyPI's JSON
# API cannot be reached (offline, or a mirror without it) the audit says so and skips, except in
# CI (CI=true), where that is a failure.
AUDIT_IGNORE := $(shell sed -e 's/\#.*//' audit-ignore.txt 2>/dev/null | awk 'NF {print $$1}')
AUDIT_PROBE ?= https://pypi.org/pypi/pip/24.0/json
audit: venv
	@if ! $(PY) -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=15)" \
	    "$(AUDIT_PROBE)" 2>/dev/null; then \
	  echo "audit skipped: PyPI's JSON API ($(AUDIT_PROBE)) is unreachable (fails under CI)" >&2; \
	  [ -z "$$CI" ] || exit 1; exit 0; \
	fi; \
	req=$$(mktemp); trap 'rm -f $$req' EXIT; \
	$(UV) export --frozen --all-extras --no-emit-project --format requirements-txt -o $$req -q && \
	$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip \
	  --progress-spinner off -r $$req $(addprefix --ignore-vuln ,$(AUDIT_IGNORE))

demo: $(VENV)/.synced-demo
	$(VENV)/bin/mlstack up

# A real browser on the local stack: Debian's headless Chromium driven by Playwright;
# screenshots land in screenshots/ (git-ignored).
e2e: venv system-deps
	$(VENV)/bin/pytest tests/e2e

# Reliability under load, faults and hostile input: the tests in tests/reliability, with @prod
# moved SOAK_SWAPS times under load and FUZZ_EXAMPLES fresh cases per route and mode (`make test`
# runs the same tests with 2 swaps and 40 fixed cases).
SOAK_SWAPS ?= 10
FUZZ_EXAMPLES ?= 300
soak: venv
	SOAK_SWAPS=$(SOAK_SWAPS) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/reliability

# Serving side by side with `mlflow models serve`, hot swap, horizons, trainer growth, accuracy:
# tables on stdout, everything in bench-results/results.json (git-ignored). wrk comes from
# system-deps; BENCH_ARGS="--seconds 10 --repeats 3" for steadier figures.
BENCH_ARGS ?=
bench: venv system-deps
	$(PY) -m bench --out bench-results $(BENCH_ARGS)

# Accuracy on all 3,003 M3 series beside statsforecast's references (`make bench` runs every
# tenth): about 3.5 s of fitting per series (all methods), spread over every core. Then the same
# series trained as panels through the trainer (all cores; and the sample with 1 and 2 workers,
# for scaling), beside that run's references: about 1 s of fitting per series more.
# The held-out check: M1 (1,001 series), the same code as bench-m3's first step. Run it once a
# design is frozen; never tune on it.
bench-m1: venv
	$(PY) -m bench.m3 bench-results/m1.json --every 1 --data m1

bench-m3: venv
	$(PY) -m bench.m3 bench-results/m3.json --every 1
	$(PY) -m bench.paneltraining bench-results/panel-training.json --every 1 \
	  --m3 bench-results/m3.json

# Images, one per service, from the one services/Dockerfile (a target each), named as in the
# deploy contract (contract/) and tagged with the project version (the stack config's defaults).
# REGISTRY=ghcr.io/<owner>/ prefixes them for a cluster that pulls. ENGINE is docker or podman
# (default: docker when its engine answers, else podman); BASE_IMAGE is any bookworm with Python
# 3.11 (`make base-image` makes one here). With podman, PODMAN_CONF (services/containers.conf:
# runc, rlimits, netavark) and PODMAN_FLAGS (e.g. --root DIR --runroot DIR) apply.
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
REGISTRY ?=
BASE_IMAGE ?= python:3.11-slim-bookworm
IMAGES := mlflow:mlstack-mlflow trainer:mlstack-trainer serving:mlstack-serving demo:mlstack-demo
ENGINE ?= $(shell if docker info >/dev/null 2>&1; then echo docker; \
  elif command -v podman >/dev/null; then echo podman; else echo docker; fi)
PODMAN_CONF ?= $(CURDIR)/services/containers.conf
PODMAN_FLAGS ?=
ifeq ($(ENGINE),podman)
ENGINE_CMD := CONTAINERS_CONF=$(PODMAN_CONF) podman $(PODMAN_FLAGS)
PREFIX := localhost/
else
ENGINE_CMD := $(ENGINE)
PREFIX :=
endif

images:
	@for pair in $(IMAGES); do \
	  target=$${pair%%:*}; name=$${pair##*:}; \
	  $(ENGINE_CMD) build --network host -f services/Dockerfile --target $$target \
	    --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg UV_VERSION=$(UV_VERSION) \
	    -t $(or $(REGISTRY),$(PREFIX))$$name:$(IMAGE_TAG) . || exit 1; \
	done
	@$(ENGINE_CMD) images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
	  | grep -E 'mlstack-(mlflow|trainer|serving|demo):$(IMAGE_TAG) ' || true

# A Debian bookworm base with Python 3.11 from Debian's packages (debootstrap + podman import),
# for machines that can pull no image; cached by its inputs. Prints its name, for BASE_IMAGE=.
base-image:
	@CONTAINERS_CONF=$(PODMAN_CONF) services/base-image.sh $(PODMAN_FLAGS)

# Built inside minikube's own runtime, so pods start them with imagePullPolicy: Never.
minikube-images:
	@for pair in $(IMAGES); do \
	  target=$${pair%%:*}; name=$${pair##*:}; \
	  minikube image build -f services/Dockerfile --build-opt=target=$$target \
	    -t $$name:$(IMAGE_TAG) . || exit 1; \
	done

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
