"""Does an S3 store honour conditional PUT? One object, two ``If-None-Match: *`` PUTs.

Uses botocore (the ``s3`` extra) with the lake's storage options: the endpoint,
region and path style from the config, the credentials from the options or
else botocore's standard chain (environment, ``AWS_PROFILE``, instance role).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# S3 answers an existing key with 412; some stores say 409 for a concurrent create
_REFUSED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
TIMEOUT_S = 10


def _client(options: Mapping[str, str]) -> Any:
    virtual = options.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "").lower() == "true"
    config = Config(
        s3={"addressing_style": "virtual" if virtual else "path"},
        connect_timeout=TIMEOUT_S,
        read_timeout=TIMEOUT_S,
        retries={"max_attempts": 2},
    )
    session = botocore.session.get_session()
    if options.get("AWS_PROFILE"):
        session.set_config_variable("profile", options["AWS_PROFILE"])
    return session.create_client(
        "s3",
        endpoint_url=options.get("AWS_ENDPOINT_URL") or None,
        region_name=options.get("AWS_REGION") or None,
        aws_access_key_id=options.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=options.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=options.get("AWS_SESSION_TOKEN") or None,
        config=config,
    )


class ProbeWriteError(Exception):
    """The probe could not write at all (no bucket, no access, no endpoint)."""


def probe_conditional_put(root: str, options: Mapping[str, str], prefix: str) -> str | None:
    """Return None if the store under ``root`` refuses to overwrite, else what happened.

    Raises ``ProbeWriteError`` when even the first write fails.
    """
    bucket, _, path = root.partition("://")[2].partition("/")
    key = "/".join(p for p in (path.strip("/"), prefix, f"{uuid.uuid4().hex}.probe") if p)
    client = _client(options)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
    except (ClientError, BotoCoreError) as exc:
        where = options.get("AWS_ENDPOINT_URL") or "AWS"
        raise ProbeWriteError(f"cannot write s3://{bucket}/{key} at {where}: {exc}") from exc
    try:
        try:
            client.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if {str(error.get("Code", "")), status} & _REFUSED:
                return None
            return f"a second create-only PUT failed unexpectedly: {exc}"
        return "a second PUT with If-None-Match: * overwrote the probe object"
    finally:
        with contextlib.suppress(ClientError, BotoCoreError):  # a leftover is harmless
            client.delete_object(Bucket=bucket, Key=key)
