"""Field types of the stack config: image references, CIDRs and optional secrets."""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr

# A reference must pin a tag or a digest: `latest` or no tag makes rollouts unrepeatable.
_NAME = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CRON = re.compile(r"^(\S+\s+){4}\S+$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|m|k|M|G)?$")
# A DNS name of at least two labels (the Ingress host and the certificate's name).
HOSTNAME = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$")
PRIVATE = [IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def image_reference(value: str) -> str:
    name, _, digest = value.partition("@")
    head, _, last = name.rpartition("/")
    repo, _, tag = last.partition(":")
    path = f"{head}/{repo}" if head else repo
    if (
        not _NAME.match(path)
        or (tag and not _TAG.match(tag))
        or (digest and not _DIGEST.match(digest))
    ):
        raise ValueError(f"'{value}' is not an image reference")
    if not tag and not digest:
        raise ValueError(f"'{value}' has no tag; pin one, e.g. '{value}:0.1.0'")
    if tag == "latest" and not digest:
        raise ValueError(f"'{value}' uses 'latest'; pin a version tag or a digest")
    return value


def network(value: Any) -> IPv4Network:
    """A CIDR with no host bits set; `10.0.0.1/16` is a typo, not a network."""
    try:
        return IPv4Network(str(value), strict=True)
    except ValueError as err:
        raise ValueError(f"'{value}' is not a valid IPv4 CIDR ({err})") from None


def blank_is_none(value: Any) -> Any:
    return None if value in ("", None) else value


Image = Annotated[str, BeforeValidator(image_reference)]
Cidr = Annotated[IPv4Network, BeforeValidator(network)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_is_none)]
