"""The snapshot job: account, positions and option chains from the broker into the lake.

Every write carries a transaction id derived from the job, the table and the
snapshot time, so running the same snapshot twice writes nothing the second
time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tradelib.broker import Broker
from tradelib.domain import AccountSnapshot, Contract, Quote
from tradelib.lake import Lake
from tradelib.records import account_row, option_snapshot_rows, position_rows


@dataclass(frozen=True, slots=True)
class ChainWindow:
    """Which part of a chain to snapshot: expiries up to ``max_dte`` days, strikes within
    ``moneyness`` (a fraction of spot) either side."""

    max_dte: int = 60
    moneyness: float = 0.15


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    ts: datetime
    account: AccountSnapshot
    positions_written: int
    option_rows_written: dict[str, int]


def _txn(kind: str, ts: datetime, *parts: str) -> str:
    return ":".join(("snapshot", kind, ts.strftime("%Y%m%dT%H%M%S"), *parts))


def record_account(broker: Broker, lake: Lake) -> AccountSnapshot:
    """Write one account snapshot (idempotent per broker timestamp)."""
    snap = broker.account()
    lake.append(
        "account_snapshots", [account_row(snap, broker.mode)], txn_id=_txn("account", snap.ts)
    )
    return snap


def record_positions(broker: Broker, lake: Lake, ts: datetime | None = None) -> int:
    """Write every current position stamped with ``ts`` (default: the broker's now)."""
    stamp = ts or broker.now()
    rows = position_rows(broker.positions(), stamp)
    if not rows:
        return 0
    return lake.append("positions", rows, txn_id=_txn("positions", stamp))


def chain_contracts(
    broker: Broker, underlying: str, spot: float, window: ChainWindow
) -> list[Contract]:
    """Option contracts of ``underlying`` inside ``window`` around ``spot``."""
    info = broker.option_chain(underlying)
    today = broker.now().date()
    lo, hi = spot * (1 - window.moneyness), spot * (1 + window.moneyness)
    contracts: list[Contract] = []
    for expiry in info.expiries:
        if not 0 <= (expiry - today).days <= window.max_dte:
            continue
        for strike in info.strikes_for(expiry):
            if lo <= strike <= hi:
                for right in ("P", "C"):
                    contracts.append(
                        Contract.option(
                            underlying, expiry, strike, right, multiplier=info.multiplier
                        )
                    )
    return contracts


def record_option_chain(
    broker: Broker, lake: Lake, underlying: str, window: ChainWindow = ChainWindow()
) -> int:
    """Snapshot ``underlying``'s chain inside ``window``; returns rows written."""
    (spot_quote,) = broker.snapshot([Contract.stock(underlying)])
    spot = spot_quote.mark
    if not math.isfinite(spot) or spot <= 0:
        return 0
    contracts = chain_contracts(broker, underlying, spot, window)
    quotes: Sequence[Quote] = broker.snapshot(contracts) if contracts else []
    ts = broker.now()
    rows = option_snapshot_rows(quotes, ts)
    if not rows:
        return 0
    return lake.append("option_snapshots", rows, txn_id=_txn("chain", ts, underlying))


def run_snapshot(
    broker: Broker,
    lake: Lake,
    underlyings: Sequence[str] = (),
    window: ChainWindow = ChainWindow(),
) -> SnapshotResult:
    """Record the account, the positions and (for each of ``underlyings``) the option chain."""
    ts = broker.now()
    account = record_account(broker, lake)
    n_pos = record_positions(broker, lake, ts)
    chains = {u: record_option_chain(broker, lake, u, window) for u in underlyings}
    return SnapshotResult(ts, account, n_pos, chains)
