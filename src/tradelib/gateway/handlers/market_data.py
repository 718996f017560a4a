"""Market-data handlers: contract details and option-chain parameters, quotes (streaming and snapshot), dividends and historical bars."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import polars as pl

from tradelib.domain import (
    NEW_YORK,
    Contract,
    SecType,
)
from tradelib.errors import BrokerError
from tradelib.gateway import parsing as p
from tradelib.gateway.contracts import OPTION_EXCHANGES
from tradelib.gateway.handlers.core import GatewayCore
from tradelib.gateway.history import DailyBar, session_bars
from tradelib.gateway.marketdata import Message, quote_ticks
from tradelib.gateway.parsing import ErrorCode, FieldReader, WireContract
from tradelib.gateway.session import ClientSession, Line
from tradelib.sim import dividends

log = logging.getLogger("tradelib.gateway")

_BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


class MarketDataHandlers(GatewayCore):
    """Contracts, quotes and bars of the simulated market."""

    def _req_contract_details(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        req_id = r.integer()
        spec = r.contract()
        found = self.catalog.match(spec)
        if not found:
            s.send(p.error_for(req_id, ErrorCode.NO_SECURITY_DEFINITION))
        rows = [
            p.contract_details(req_id, self.catalog.wire(inst), self.catalog.details_extra(inst))
            for inst in found
        ]
        s.send(*rows, p.contract_details_end(req_id))

    def _req_sec_def_opt_params(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 1)
        req_id = r.integer()
        symbol = r.text().strip().upper()
        fut_fop_exchange = r.text().strip().upper()
        expiries = [p.ib_date(e) for e in self.catalog.listed_expiries(symbol)]
        rows: list[Message] = []
        if expiries and not fut_fop_exchange:
            strikes = self.catalog.listed_strikes(symbol)
            und = self.catalog.match(WireContract(symbol=symbol, sec_type="STK"))
            und_id = und[0].con_id if und else 0
            rows = [
                p.sec_def_opt_params(req_id, exch, und_id, symbol, "100", expiries, strikes)
                for exch in OPTION_EXCHANGES
            ]
        s.send(*rows, p.sec_def_opt_params_end(req_id))

    # --- market data -------------------------------------------------------------------------------------
    def _req_market_data_type(self, s: ClientSession, f: list[str]) -> None:
        s.market_data_type = p.MarketDataType(FieldReader(f, 2).integer() or 1)

    def _previous_close(self, contract: Contract) -> float:
        """Yesterday's close of a stock, index or future (NaN for options or on failure)."""
        if contract.sec_type is SecType.OPTION or contract.con_id is None:
            return math.nan
        now = self.broker.now()
        key = (contract.con_id, f"{now.astimezone(NEW_YORK):%Y%m%d}")
        cached = self._close_cache.get(key)
        if cached is not None:
            return cached
        try:
            df = self.broker.bars(contract, now - timedelta(days=10), now, 86400)
        except (BrokerError, ValueError):
            return math.nan
        today = now.astimezone(NEW_YORK).date()
        closes = [
            float(c)
            for ts, c in zip(df["ts"].to_list(), df["close"].to_list(), strict=True)
            if ts.astimezone(NEW_YORK).date() < today
        ]
        value = closes[-1] if closes else math.nan
        self._close_cache[key] = value
        return value

    def _req_mkt_data(self, s: ClientSession, f: list[str]) -> None:
        req = p.parse_mkt_data(f)
        limit = self._fault_state.line_limit
        if not req.snapshot and req.req_id not in s.lines and len(s.lines) >= limit:
            s.send(p.error_for(req.req_id, ErrorCode.MAX_TICKERS))
            return
        inst = self.catalog.resolve_one(req.contract) if req.contract.sec_type != "BAG" else None
        if inst is None:
            s.send(p.error_for(req.req_id, ErrorCode.NO_SECURITY_DEFINITION))
            if req.snapshot:
                s.send(p.tick_snapshot_end(req.req_id))
            return
        contract = self.catalog.domain(inst)
        kind = self._fault_state.market_data
        if kind == "none":
            s.send(p.error_for(req.req_id, ErrorCode.NOT_SUBSCRIBED))
            return
        want_oi = p.GENERIC_OPEN_INTEREST in req.generic_ticks
        line = Line(req.req_id, contract, want_oi, delayed=kind == "delayed")
        quote = self.broker.snapshot([contract])[0]
        ticks = quote_ticks(
            req.req_id,
            quote,
            line.state,
            close=self._previous_close(contract),
            open_interest=want_oi,
        )
        data_type = p.MarketDataType.REALTIME
        if line.delayed:
            # Without a subscription IB falls back to delayed data, saying so unless asked for it.
            if s.market_data_type not in (
                p.MarketDataType.DELAYED,
                p.MarketDataType.DELAYED_FROZEN,
            ):
                s.send(p.error_for(req.req_id, ErrorCode.DISPLAYING_DELAYED))
            ticks = [p.delayed_tick(t) for t in ticks]
            data_type = p.MarketDataType.DELAYED
        s.send(p.market_data_type(req.req_id, data_type), *ticks)
        if p.GENERIC_DIVIDENDS in req.generic_ticks and contract.sec_type is SecType.STOCK:
            s.send(self._dividend_tick(req.req_id, contract.symbol))
        if req.snapshot:
            s.send(p.tick_snapshot_end(req.req_id))
        else:
            s.lines[req.req_id] = line

    def _dividend_tick(self, req_id: int, symbol: str) -> Message:
        """Tick 59 from the simulated dividend schedule, as of the market's day."""
        today = self.broker.now().astimezone(NEW_YORK).date()
        year = timedelta(days=365)
        past = sum(d.amount for d in dividends.ex_dates(symbol, today - year, today - timedelta(1)))
        ahead = dividends.ex_dates(symbol, today, today + year)
        nxt = self.broker.dividend(symbol)  # the same date the simulated broker gives
        text = p.dividends_text(
            past,
            sum(d.amount for d in ahead),
            None if nxt is None else nxt.ex_date,
            math.nan if nxt is None else nxt.amount,
        )
        return p.tick_string(req_id, p.TickType.IB_DIVIDENDS, text)

    def _cancel_mkt_data(self, s: ClientSession, f: list[str]) -> None:
        s.lines.pop(FieldReader(f, 2).integer(), None)

    def _push_lines(self) -> None:
        if self._fault_state.connectivity_down:
            return  # no quotes while IB's side of the connection is down
        sessions = [s for s in self._sessions.values() if s.lines]
        if not sessions:
            return
        unique: dict[int, Contract] = {}
        for s in sessions:
            for line in s.lines.values():
                unique[int(line.contract.con_id or 0)] = line.contract
        quotes = dict(zip(unique, self.broker.snapshot(list(unique.values())), strict=True))
        for s in sessions:
            out: list[Message] = []
            for line in list(s.lines.values()):
                q = quotes[int(line.contract.con_id or 0)]
                ticks = quote_ticks(line.req_id, q, line.state, open_interest=line.open_interest)
                out += [p.delayed_tick(t) for t in ticks] if line.delayed else ticks
            if out:
                s.send(*out)

    def _req_historical_data(self, s: ClientSession, f: list[str]) -> None:
        req = p.parse_historical_data(f)
        if self._fault_state.hist_pacing:
            s.send(p.error_for(req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "Pacing violation"))
            return
        failure = self._fault_state.take_historical_failure()
        if failure is not None:
            detail = "simulated HMDS failure"
            s.send(p.error_msg(req.req_id, failure, p.fault_error_text(failure, detail)))
            return
        inst = self.catalog.resolve_one(req.contract)
        if inst is None:
            s.send(p.error_for(req.req_id, ErrorCode.NO_SECURITY_DEFINITION))
            return
        if inst.sec_type == "OPT":
            s.send(
                p.error_for(
                    req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "No data of type option bars"
                )
            )
            return
        try:
            secs = p.bar_seconds(req.bar_size)
            span = p.duration_seconds(req.duration)
        except (KeyError, ValueError):
            s.send(
                p.error_for(
                    req.req_id,
                    ErrorCode.VALIDATION_ERROR,
                    f"bad bar size or duration {req.bar_size!r}/{req.duration!r}",
                )
            )
            return
        end = p.parse_end_time(req.end, self.broker.now())
        start = end - timedelta(seconds=span)
        contract = self.catalog.domain(inst)
        df = self.broker.bars(contract, start, end, min(secs, 86400))
        if secs < 86400 and contract.sec_type in (SecType.STOCK, SecType.INDEX):
            df = self._with_past_sessions(contract, df, start, end, secs)
        if df.height == 0:
            s.send(
                p.error_for(
                    req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "HMDS query returned no data"
                )
            )
            return
        bars = []
        for ts, o, h, lo, c, v in df.select(
            ["ts", "open", "high", "low", "close", "volume"]
        ).iter_rows():
            bars.append((self._bar_date(ts, secs, req.format_date), o, h, lo, c, float(v)))
        fmt = "%Y%m%d %H:%M:%S"
        s.send(p.historical_data(req.req_id, start.strftime(fmt), end.strftime(fmt), bars))

    def _with_past_sessions(
        self, contract: Contract, df: pl.DataFrame, start: datetime, end: datetime, secs: int
    ) -> pl.DataFrame:
        """Add intraday bars of sessions the market knows only as daily bars (before its start)."""
        daily = self.broker.bars(contract, start - timedelta(days=1), end, 86400)
        if daily.height == 0:
            return df
        hours = self.broker.market.hours
        have = {ts.astimezone(NEW_YORK).date() for ts in df["ts"].to_list()}
        parts = [df.select(_BAR_COLUMNS)] if df.height else []
        for ts, o, h, lo, c, v in daily.select(_BAR_COLUMNS).iter_rows():
            day = ts.astimezone(NEW_YORK).date()
            if day in have or not hours.is_trading_day(day):
                continue
            open_, close = hours.session_bounds(day)
            if close <= start or open_ >= end:
                continue
            bar = DailyBar(day, int(open_.timestamp()), int(close.timestamp()), o, h, lo, c, int(v))
            seed = int(self.broker.simulated_market.config.seed)
            bars = session_bars(bar, secs, seed, contract.symbol)
            parts.append(bars.filter((pl.col("ts") >= start) & (pl.col("ts") < end)))
        if not parts:
            return df
        return pl.concat(parts, how="vertical_relaxed").sort("ts")

    @staticmethod
    def _bar_date(ts: datetime, secs: int, format_date: int) -> str:
        if secs >= 86400:
            return f"{ts.astimezone(NEW_YORK):%Y%m%d}"
        if format_date == 2:
            return str(int(ts.timestamp()))
        return f"{ts.astimezone(NEW_YORK):%Y%m%d %H:%M:%S} America/New_York"
