"""A self-signed TLS certificate for a laptop's Ingress, as a kubernetes.io/tls Secret.

There is no TLS provider in the lock (pulumi-tls is not installable here), so the certificate is
made in Python with `cryptography`. It is derived from a random seed kept in the stack's state:
the same stack makes the same key and certificate on every run, so `pulumi preview` stays quiet
(a fresh key per run would replace the Secret each time). The key is a Pulumi secret.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.naming import labels, res_name
from infra.options import child_options

# Fixed validity, so the certificate depends on the seed and host alone.
NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2035, 1, 1, tzinfo=datetime.UTC)
_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)  # P-256's n


def self_signed(host: str, seed: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for `host`, the same for the same seed."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    key = ec.derive_private_key(digest % (_ORDER - 1) + 1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(digest >> 97 or 1)  # at most 159 bits, positive
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


@dataclass(frozen=True)
class SelfSignedTlsArgs:
    namespace: pulumi.Input[str]
    host: str


class SelfSignedTls(pulumi.ComponentResource):
    """A random seed (kept in state) and the kubernetes.io/tls Secret derived from it."""

    secret_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SelfSignedTlsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:SelfSignedTls", name, None, opts)
        child = child_options(self, opts)
        seed = random.RandomPassword(
            res_name(name, "tls-seed"),
            length=48,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        hidden: pulumi.Output[str] = pulumi.Output.secret(seed.result)
        pair = hidden.apply(lambda s: self_signed(args.host, s))
        key: pulumi.Output[str] = pulumi.Output.secret(pair.apply(lambda p: p[1]))
        secret = k8s.core.v1.Secret(
            res_name(name, "tls"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=res_name(name, "tls"),
                namespace=args.namespace,
                labels=labels("api", "serving"),
            ),
            type="kubernetes.io/tls",
            string_data={
                "tls.crt": pair.apply(lambda p: p[0]),
                "tls.key": key,
            },
            opts=child,
        )
        self.secret_name = secret.metadata.name
        self.register_outputs({"secret_name": self.secret_name})
