"""The object store's conditional PUT: prove once per process that an S3 store honours it.

``StoreVerification`` is a mixin of ``Lake``; ``ConditionalPutError`` is what a
store that overwrites a create-only object raises.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from tradelib.errors import LakeError

log = logging.getLogger(__name__)

# Object stores: before its first write a process proves the store refuses to overwrite
# an object it was asked to create only if absent (``If-None-Match: *``), as Delta's
# commits on S3 need. The probe object lives under this prefix and is deleted after.
PROBE_PREFIX = "_tradelib_store_probe"
_verified_roots: set[str] = set()
_verified_lock = threading.Lock()


class ConditionalPutError(LakeError):
    """The object store overwrote a Delta commit it was asked to create only if absent."""

    template = (
        "the object store behind {root} ignores conditional PUT (If-None-Match): {problem}. "
        "Concurrent writers would silently lose rows there. Use a store that honours it "
        "(AWS S3, MinIO, Cloudflare R2, moto), or, if exactly one process ever writes this "
        "lake, set storage.verify_conditional_put: false"
    )


class StoreVerification:
    """``Lake.verify_store`` (mixin; the settings live on the lake)."""

    root: str
    storage_options: dict[str, str] | None
    verify_conditional_put: bool

    if TYPE_CHECKING:

        @property
        def is_local(self) -> bool: ...

    # --- the object store's conditional PUT --------------------------------------------
    def verify_store(self, *, force: bool = False) -> bool:
        """Prove an S3 store honours conditional PUT; return True when a probe ran.

        Delta's multi-writer safety on S3 rests on the store refusing a commit file
        that already exists (``If-None-Match: *``; no lock files, no DynamoDB). The
        probe PUTs one small object twice with that header: the second must be refused
        (412), else ``ConditionalPutError``. Run once per process and lake, before the
        first write; local lakes, non-S3 stores and ``verify_conditional_put=False``
        are not probed, nor is a store when botocore (``tradelib[s3]``) is missing.
        """
        if self.is_local or not self.verify_conditional_put:
            return False
        if not self.root.startswith(("s3://", "s3a://")):
            return False
        with _verified_lock:
            if self.root in _verified_roots and not force:
                return False
            try:
                from tradelib.lake.s3probe import ProbeWriteError, probe_conditional_put
            except ImportError:  # botocore is an optional extra
                log.warning(
                    "lake %s: conditional PUT not verified (install tradelib[s3] for botocore)",
                    self.root,
                )
                _verified_roots.add(self.root)
                return False
            try:
                problem = probe_conditional_put(self.root, self.storage_options or {}, PROBE_PREFIX)
            except ProbeWriteError as exc:
                raise LakeError(table="*", problem=str(exc)) from exc
            if problem is not None:
                raise ConditionalPutError(root=self.root, problem=problem)
            _verified_roots.add(self.root)
            return True
