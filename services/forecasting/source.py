"""The raw bytes of the data, from a path, file://, s3:// or http(s):// URI."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

# The most of a value an error message quotes: a 100,000-digit value stays a short line.
QUOTED_CHARS = 40


class DataError(ValueError):
    """The data cannot be used; the message says what is wrong and where."""


def quote(value: object) -> str:
    """`value` as an error quotes it: its repr, cut to its first `QUOTED_CHARS` characters."""
    text = str(value)
    if len(text) <= QUOTED_CHARS:
        return repr(value)
    return f"{text[:QUOTED_CHARS]!r}... ({len(text):,} characters)"


def read_bytes(uri: str, timeout: float = 30.0) -> bytes:
    """The raw bytes behind `uri`; S3 honours AWS_ENDPOINT_URL or MLFLOW_S3_ENDPOINT_URL."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else uri)
        if path.is_dir():
            raise DataError(f"data path {path} is a directory: give the CSV file in it")
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(f"data file {path} is not readable: {exc.strerror}") from exc
    if parsed.scheme == "s3":
        return _read_s3(parsed.netloc, parsed.path.lstrip("/"), timeout)
    if parsed.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri, timeout=timeout) as response:
                return bytes(response.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise DataError(f"could not download {uri}: {getattr(exc, 'reason', exc)}") from exc
    raise DataError(
        f"unsupported data URI scheme {parsed.scheme!r} in {uri}: use a path, file://, s3:// or http(s)://"
    )


def _read_s3(bucket: str, key: str, timeout: float) -> bytes:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    config = Config(
        connect_timeout=5,
        read_timeout=timeout,
        retries={"max_attempts": 4, "mode": "standard"},  # bounded: fail cleanly, never hang
    )
    client = boto3.client("s3", endpoint_url=endpoint or None, config=config)
    try:
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise DataError(f"could not read s3://{bucket}/{key}: {code}") from exc
    except BotoCoreError as exc:
        raise DataError(f"could not read s3://{bucket}/{key}: {exc}") from exc
