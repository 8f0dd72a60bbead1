"""Rendering and validation of the Kubernetes objects the Pulumi program declares.

`tests/k8s/harness.py` is shared with `tests/stacks` and `tests/infra`: it runs the program
under Pulumi's mocks, with a stack file's config loaded the way the CLI loads it.
"""
