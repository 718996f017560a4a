"""Preflight results: one line per check (pass, warn, fail or skip) with the fix, and go/no-go."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import polars as pl


class CheckStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"  # works, but look at it; still a go
    FAIL = "fail"  # no-go
    SKIP = "skip"  # could not run because an earlier check failed


@dataclass(frozen=True, slots=True)
class Check:
    """One preflight check: what was found and, when it is not a pass, how to fix it."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""
    code: int | None = None  # IB's error code behind a failure, when there is one


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """Every check in the order it ran; ``go`` when none failed."""

    checks: tuple[Check, ...]

    @property
    def go(self) -> bool:
        return not any(c.status is CheckStatus.FAIL for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.FAIL]

    def get(self, name: str) -> Check:
        """The check called ``name`` (KeyError if it did not run)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def table(self) -> pl.DataFrame:
        """The checks as a table (for a notebook)."""
        return pl.DataFrame(
            {
                "check": [c.name for c in self.checks],
                "status": [c.status.value for c in self.checks],
                "detail": [c.detail for c in self.checks],
                "fix": [c.fix for c in self.checks],
                "ib_code": [c.code for c in self.checks],
            },
            schema={
                "check": pl.String,
                "status": pl.String,
                "detail": pl.String,
                "fix": pl.String,
                "ib_code": pl.Int64,
            },
        )

    def lines(self) -> list[str]:
        """One readable line per check (plus its fix), then the verdict."""
        out: list[str] = []
        width = max((len(c.name) for c in self.checks), default=0)
        for c in self.checks:
            out.append(f"{c.status.value.upper():4}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status in (CheckStatus.FAIL, CheckStatus.WARN):
                out.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
        failed = self.failed()
        verdict = "GO" if not failed else f"NO-GO ({', '.join(c.name for c in failed)})"
        out.append(f"preflight: {verdict}")
        return out


def report(checks: Iterable[Check]) -> PreflightReport:
    return PreflightReport(tuple(checks))
