"""One reading of the market regime, shared by every job.

The detector (``tradelib.regime``) is pure; this module feeds it from the
broker (daily SPY and VIX bars, today's intraday SPY bars and the live VIX and
SPY marks when the market is open) and from the lake (yesterday's reading, for
hysteresis), and stores the day's reading back. Entry and monitoring both read
the regime here, so the regime an entry is sized for is the regime its exits
are judged in, and danger seen intraday holds for every later job that day.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from tradelib.broker import Broker
from tradelib.domain import NEW_YORK, Contract
from tradelib.errors import BrokerError, ContractError, RegimeInputError
from tradelib.jobs.portfolio import BENCHMARK, DAY_BAR_S, bar_start
from tradelib.lake import Lake
from tradelib.markethours import MarketHours
from tradelib.regime import EnhancedMarketRegimeDetector, RegimeReading
from tradelib.stores.regime import RegimeStore

VIX = "VIX"
INTRADAY_BAR_S = 300


def regime_text(reading: RegimeReading) -> str:
    """One line for a report: the regime and its confidence, or why there is none."""
    why = str(reading.evidence.get("decided_by", ""))
    if reading.regime is None:
        return why or "regime unknown"
    return f"{reading.regime.value} (confidence {reading.confidence:.2f}; {why})"


class RegimeReader:
    """Read today's regime from the broker's bars and the lake's stored readings."""

    def __init__(
        self,
        broker: Broker,
        lake: Lake,
        detector: EnhancedMarketRegimeDetector,
        hours: MarketHours,
    ) -> None:
        self.broker = broker
        self.detector = detector
        self.hours = hours
        self.store = RegimeStore(lake)

    def read(self, now: datetime, *, market_open: bool) -> RegimeReading:
        """Today's reading, with the last stored one for hysteresis; stored back per day.

        Never raises for missing data: an unknown regime comes back with the reason.
        """
        start = bar_start(now, self.detector.warmup)
        try:
            spy = self.broker.bars(Contract.stock(BENCHMARK), start, now, DAY_BAR_S)
            vix = self.broker.bars(Contract.index(VIX), start, now, DAY_BAR_S)
            intraday = None
            vix_now = spy_now = None
            if market_open:
                session_open, _ = self.hours.session_bounds(now.astimezone(NEW_YORK).date())
                intraday = self.broker.bars(
                    Contract.stock(BENCHMARK), session_open, now, INTRADAY_BAR_S
                )
                # Danger is admitted on the reading that shows it: the live VIX and SPY
                # can raise the regime before the daily bars close (never lower it).
                vix_now, spy_now = self._live(Contract.index(VIX), Contract.stock(BENCHMARK))
            table = self.detector.features(spy, vix)
            if table.height == 0:
                return RegimeReading(None, 0.0, {"decided_by": "no daily bars for SPY and VIX"})
            last_day: date = table["date"][-1]
            previous = self.store.previous(last_day)
            if previous is None:
                # First run: walk the history so today starts from a settled reading.
                history = self.detector.detect_series(spy, vix)
                previous = history[-2] if len(history) >= 2 else None
            reading = self.detector.detect(
                spy,
                vix,
                previous=previous,
                spy_intraday=intraday,
                vix_now=vix_now,
                spy_now=spy_now,
            )
        except (BrokerError, ContractError, RegimeInputError) as exc:
            return RegimeReading(None, 0.0, {"decided_by": f"no regime: {exc}"})
        self.store.store(reading, now)
        return reading

    def _live(self, *contracts: Contract) -> list[float | None]:
        """Each contract's live mark (None where the quote has none)."""
        out: list[float | None] = []
        for q in self.broker.snapshot(list(contracts)):
            mark = q.mark
            out.append(mark if math.isfinite(mark) and mark > 0 else None)
        return out
