"""The images built from services/Dockerfile and the stack's pods run with podman from the
rendered manifests (`podman kube play`), on a machine without a cluster."""
