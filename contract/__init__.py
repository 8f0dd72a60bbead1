"""The deploy contract: what each service runs (command, port, environment, probes) and the
constants the Kubernetes objects (`infra/`, `stacks/`), the local stack and the apps share.

Declared once here, so a laptop runs exactly the entrypoints the cluster runs, and the Pulumi
program reads it without importing the application: this package imports only pydantic and the
standard library, never `services/`, MLflow, NumPy or Pulumi.

- `service`: `ServiceSpec` and the pods' scratch volume.
- `env`: `Env`, a service's environment as one typed value (a field per variable).
- `api`, `tracking`, `trainer`, `demo`: each service's spec, environment and constants.
"""
