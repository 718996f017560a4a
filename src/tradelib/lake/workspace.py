"""The lake a job opens: one rule for every job, notebook and CLI."""

from __future__ import annotations

import re
from pathlib import Path

from tradelib.config import TradingConfig, workspace_root
from tradelib.lake.store import Lake

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def job_lake(cfg: TradingConfig, lake_uri: str = "") -> Lake:
    """The job's lake: ``lake_uri`` or the configured one.

    A relative local folder resolves against the workspace, not the working
    directory: a papermill kernel works in the notebook's folder.
    """
    uri = lake_uri or cfg.storage.lake_uri
    remote = _SCHEME.match(uri) is not None and not uri.startswith("file://")
    if not remote and not Path(uri).is_absolute():
        uri = str(workspace_root() / uri)
    return Lake(
        uri,
        storage_options=cfg.storage.storage_options(),
        commit_retries=cfg.storage.commit_retries,
        expected_writers=cfg.storage.expected_writers,
        verify_conditional_put=cfg.storage.verify_conditional_put,
    )
