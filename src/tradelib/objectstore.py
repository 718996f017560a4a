"""Object-store settings from the environment: which variables a lake URI's store reads.

Kept free of heavy imports: both the config and the lake use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables passed through to deltalake (object_store) per URI scheme. Credentials are
# never part of the config file, so they never end up in a repr or a notebook.
_AWS_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_PROFILE",
    "AWS_S3_ALLOW_UNSAFE_RENAME",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
)
ENV_PREFIX_BY_SCHEME = {
    "s3": "AWS_",
    "s3a": "AWS_",
    "gs": "GOOGLE_",
    "az": "AZURE_",
    "abfs": "AZURE_",
    "abfss": "AZURE_",
    "adl": "AZURE_",
}
SECRET_ENV_KEYS = frozenset(
    {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_KEY",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    }
)


def scheme(uri: str) -> str:
    """The URI's scheme, lowercased (``s3``); ``""`` for a plain path."""
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


def env_storage_options(uri: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return deltalake ``storage_options`` for ``uri`` from ``env`` (default: os.environ).

    Only the variables of the URI's store are taken (``AWS_*`` for s3://); a local
    path needs none: ``{}``. Secret values are registered for masking in logs.
    """
    from tradelib.secrets import register_secret

    prefix = ENV_PREFIX_BY_SCHEME.get(scheme(uri))
    if prefix is None:
        return {}
    environ = os.environ if env is None else env
    if prefix == "AWS_":
        options = {k: environ[k] for k in _AWS_KEYS if environ.get(k)}
        if "AWS_REGION" not in options and "AWS_DEFAULT_REGION" in options:
            options["AWS_REGION"] = options["AWS_DEFAULT_REGION"]
        options.pop("AWS_DEFAULT_REGION", None)
    else:
        options = {k: v for k, v in environ.items() if k.startswith(prefix) and v}
    for key in SECRET_ENV_KEYS & options.keys():
        register_secret(options[key])
    return options
