"""Market-data section of the IB broker: snapshots, streaming lines, dividends, probes, bars."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from ib_async import Contract as IbContract
from ib_async import (
    RequestError,
    Ticker,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from tradelib.broker import ib_mapping as m
from tradelib.broker.ib_contracts import IBContracts
from tradelib.broker.ib_core import (
    DIVIDEND_GRACE_S,
    FIRST_TICK_WAIT_S,
    _Stream,
)
from tradelib.broker.port import (
    QuoteEvent,
    admit_streams,
)
from tradelib.domain import (
    NEW_YORK,
    Contract,
    Dividend,
    Quote,
    SecType,
)
from tradelib.errors import (
    BrokerError,
    MarketDataLineLimitError,
)

log = logging.getLogger("tradelib.broker.ib")


@dataclass(frozen=True, slots=True)
class QuoteProbe:
    """What one market-data line really delivers (preflight)."""

    contract: Contract
    data_type: str  # "realtime" | "frozen" | "delayed" | "delayed_frozen" | "none"
    code: int | None = None  # IB's error or warning code for the line (354, 10167...)
    message: str = ""
    quote: Quote | None = None


class IBMarketData(IBContracts):
    """Quotes (snapshots and streams within the line budget), dividends and historical bars."""

    # --- market data --------------------------------------------------------------------------
    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        """One quote per contract (same order); options carry IB's greeks, else our model's."""
        self._session()
        resolved = [self._resolve(c) for c in contracts]
        quotes = self._quotes(resolved)
        missing = m.spot_symbols(q for q in quotes)
        if missing:
            spots = {
                q.contract.symbol: q.mark
                for q in self._quotes([self._resolve(Contract.stock(s)) for s in sorted(missing)])
            }
            quotes = m.with_model_greeks(
                quotes, spots, self.now(), rate=self._rate, div_yield=self._div_yield
            )
        return quotes

    def _quotes(self, resolved: Sequence[Contract]) -> list[Quote]:
        by_key: dict[str, Quote] = {}
        todo: dict[str, Contract] = {}
        for c in resolved:
            stream = self._streams.get(c.key)
            if stream is not None and _has_data(stream.ticker):
                by_key[c.key] = m.domain_quote(c, stream.ticker, self._stream_ts())
            else:
                todo[c.key] = c
        if todo:
            tickers = self._request(lambda: self._snapshot_tickers(list(todo.values())))
            ts = self.now()
            for key, c in todo.items():
                ticker = tickers.get(key)
                by_key[key] = (
                    m.domain_quote(c, ticker, ts)
                    if ticker is not None
                    else Quote(contract=c, ts=ts)
                )
        return [by_key[c.key] for c in resolved]

    def _snapshot_tickers(self, contracts: Sequence[Contract]) -> dict[str, Ticker]:
        """Snapshot requests in batches no larger than the free streaming lines."""
        batch = max(1, self.line_budget - len(self._streams))
        specs = [(c.key, self._ib_contract(c)) for c in contracts]
        out: dict[str, Ticker] = {}

        async def one(spec: IbContract) -> Ticker | None:
            try:
                [ticker] = await self._ib.reqTickersAsync(spec)
            except RequestError as exc:
                log.warning("no snapshot for %s: %s", spec.localSymbol or spec.symbol, exc.message)
                return None
            return ticker

        async def fetch(chunk: list[tuple[str, IbContract]]) -> list[Ticker | None]:
            return list(await asyncio.gather(*(one(spec) for _, spec in chunk)))

        for i in range(0, len(specs), batch):
            chunk = specs[i : i + batch]
            tickers = self._ib.run(asyncio.wait_for(fetch(chunk), self._ack_timeout_s))
            for (key, _), ticker in zip(chunk, tickers, strict=True):
                if ticker is not None:
                    out[key] = ticker
        return out

    @property
    def line_budget(self) -> int:
        """The configured budget, or fewer when IB refused lines below it (error 101)."""
        if self._ib_line_cap is None:
            return self._line_budget
        return min(self._line_budget, self._ib_line_cap)

    def stream(self, contracts: Sequence[Contract]) -> None:
        """Start streaming; MarketDataLineLimitError (nothing started) if over the line budget.

        IB may hold fewer lines than the budget says (other sessions, a smaller
        subscription): a line it refuses with error 101 is cancelled with every
        other line of this call, the budget shrinks to what IB held, and the
        error carries code 101; those contracts stay on snapshots.
        """
        self._session()
        new = admit_streams(self._streams, [self._resolve(c) for c in contracts], self.line_budget)
        held_before = len(self._streams)
        req_ids: dict[str, int] = {}
        self._pending_lines = set(new)
        try:
            self._start_lines(new, req_ids)
        finally:
            self._pending_lines = set()
        refused = [k for k in new if req_ids[k] in self._refused]
        if not refused:
            return
        for key in new:  # all or nothing, as the port promises
            stream = self._streams.pop(key, None)
            if stream is not None:
                self._ib.cancelMktData(stream.ib_contract)
        for rid in req_ids.values():
            self._refused.pop(rid, None)
        self.refused_lines += len(refused)
        held = held_before + len(new) - len(refused)
        self._ib_line_cap = held if self._ib_line_cap is None else min(self._ib_line_cap, held)
        log.warning(
            "IB refused %d market-data line(s) with error %d (it holds %d): "
            "line budget lowered from %d to %d; those contracts stay on snapshots",
            len(refused),
            m.CODE_TOO_MANY_TICKERS,
            held,
            self._line_budget,
            self.line_budget,
        )
        raise MarketDataLineLimitError(
            in_use=held_before,
            budget=self.line_budget,
            requested=len(new),
            code=m.CODE_TOO_MANY_TICKERS,
        )

    def _start_lines(self, new: Mapping[str, Contract], req_ids: dict[str, int]) -> None:
        """Request every line of ``new``; return once each has data or was refused (or timed out)."""
        for key, c in new.items():
            ib_contract = self._ib_contract(c)
            ticker = self._ib.reqMktData(ib_contract, _generic_ticks(c), False, False)
            self._streams[key] = _Stream(c, ib_contract, ticker)
            req_ids[key] = self._ticker_req_id(ticker)
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)

        def settled() -> bool:
            return all(
                _has_data(self._streams[k].ticker) or req_ids[k] in self._refused for k in new
            )

        while not settled() and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.01))

    def _ticker_req_id(self, ticker: Ticker) -> int:
        """The request id ib_async used for ``ticker``'s market-data line (0 if unknown)."""
        by_ticker: Mapping[Ticker, int] = self._ib.wrapper.ticker2ReqId.get("mktData", {})
        return int(by_ticker.get(ticker, 0))

    def unstream(self, contracts: Sequence[Contract]) -> None:
        """Stop streaming ``contracts`` (unknown ones are ignored)."""
        self._session()
        for c in contracts:
            key = self._resolved.get(c.key, c).key
            stream = self._streams.pop(key, None)
            if stream is not None:
                self._ib.cancelMktData(stream.ib_contract)

    def streaming(self) -> list[Contract]:
        """Contracts currently streaming."""
        self._session()
        return [s.contract for s in self._streams.values()]

    def latest(self, contract: Contract) -> Quote | None:
        """The streamed quote (None if not streaming or no data yet); stale while IB reports 1100."""
        self._session()
        stream = self._streams.get(contract.key)
        if stream is None or not _has_data(stream.ticker):
            return None
        quote = m.domain_quote(stream.contract, stream.ticker, self._stream_ts())
        if quote.contract.is_option and quote.greeks is None:
            und = self._streams.get(Contract.stock(quote.contract.symbol).key)
            if und is not None and _has_data(und.ticker):
                spot = m.domain_quote(und.contract, und.ticker, quote.ts).mark
                quote = m.with_model_greeks(
                    [quote],
                    {quote.contract.symbol: spot},
                    quote.ts,
                    rate=self._rate,
                    div_yield=self._div_yield,
                )[0]
        return quote

    def _stream_ts(self) -> datetime:
        """A live line reflects the market now; after 1100 its data dates from the loss."""
        lost = self.connection.data_lost_at
        if lost is None:
            est = self._clock.estimate(time.monotonic())
        elif self._lost_server_s is not None:
            est = self._lost_server_s
        else:
            est = self._clock.at(lost)
        if est is None:
            return self.now()
        return datetime.fromtimestamp(est, UTC)

    def dividend(self, symbol: str) -> Dividend | None:
        """The next ex-dividend date and amount of ``symbol`` (None when IB reports none).

        Read from IB's dividend tick (generic tick 456, tick type 59) of the
        stock's line, streaming already or opened for the question and released
        (it needs one free line: MarketDataLineLimitError otherwise). Cached per day.
        """
        self._session()
        sym = symbol.strip().upper()
        today = self.now().astimezone(NEW_YORK).date()
        if (sym, today) in self._dividends:
            return self._dividends[(sym, today)]
        stock = self._resolve(Contract.stock(sym))
        stream = self._streams.get(stock.key)
        if stream is not None:
            answer = self._await_dividends(stream.ticker, 0)
        else:
            admit_streams(self._streams, [stock], self.line_budget)
            ib_contract = self._ib_contract(stock)
            ticker = self._ib.reqMktData(ib_contract, m.GENERIC_DIVIDENDS, False, False)
            req_id = self._ticker_req_id(ticker)
            try:
                answer = self._await_dividends(ticker, req_id)
            finally:
                self._ib.cancelMktData(ib_contract)
            if self._refused.pop(req_id, None) is not None:
                self.refused_lines += 1
                raise MarketDataLineLimitError(
                    in_use=len(self._streams),
                    budget=self.line_budget,
                    requested=1,
                    code=m.CODE_TOO_MANY_TICKERS,
                )
        dividend = m.domain_dividend(sym, answer)
        self._dividends[(sym, today)] = dividend
        return dividend

    def _await_dividends(self, ticker: Ticker, req_id: int) -> Any:
        """Wait for ``ticker``'s dividend tick: IB sends it with the line's first ticks."""
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)
        data_at: float | None = None
        while ticker.dividends is None and req_id not in self._refused:
            mono = time.monotonic()
            if mono > deadline or (data_at is not None and mono - data_at > DIVIDEND_GRACE_S):
                break  # a stock without dividends may never get the tick
            if data_at is None and _has_data(ticker):
                data_at = mono
            self._request(lambda: self._ib.sleep(0.01))
        return ticker.dividends

    def probe_quotes(self, contracts: Sequence[Contract]) -> list[QuoteProbe]:
        """Open one line at a time and report what arrives: real-time, delayed or nothing (+ IB's code)."""
        self._session()
        notes: dict[int, tuple[int, str]] = {}

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            notes.setdefault(req_id, (code, message))

        self._ib.errorEvent += on_error
        try:
            self._ib.reqMarketDataType(1)  # ask for what the jobs need: real time
            return [self._probe_one(self._resolve(c), notes) for c in contracts]
        finally:
            self._ib.errorEvent -= on_error

    def _probe_one(self, contract: Contract, notes: Mapping[int, tuple[int, str]]) -> QuoteProbe:
        admit_streams(self._streams, [contract], self.line_budget)
        ib_contract = self._ib_contract(contract)
        fresh: list[bool] = []  # ib_async shares one ticker per contract: wait for new ticks

        def on_tickers(tickers: Any) -> None:
            if any(t is ticker for t in tickers):
                fresh.append(True)

        ticker = self._ib.reqMktData(ib_contract, "", False, False)
        self._ib.pendingTickersEvent += on_tickers
        req_id = self._ticker_req_id(ticker)
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)
        try:
            while not (fresh and _has_data(ticker)) and time.monotonic() < deadline:
                note = notes.get(req_id)
                if note is not None and not m.is_warning(note[0]):
                    break
                self._request(lambda: self._ib.sleep(0.02))
        finally:
            self._ib.pendingTickersEvent -= on_tickers
            self._ib.cancelMktData(ib_contract)
        self._refused.pop(req_id, None)
        code, message = notes.get(req_id, (None, ""))
        if not (fresh and _has_data(ticker)):
            return QuoteProbe(contract, "none", code, message)
        kind = m.MAP_MARKET_DATA_TYPE.get(int(ticker.marketDataType or 1), "realtime")
        quote = m.domain_quote(contract, ticker, self._event_ts())
        return QuoteProbe(contract, kind, code, message, quote)

    def _resubscribe(self, new_session: bool) -> None:
        """Re-request every streaming line (after a reconnect or IB's 1101); never blocks."""
        for key, stream in list(self._streams.items()):
            if not new_session:  # 1101: IB dropped the line, ib_async still holds its ticker
                self._ib.cancelMktData(stream.ib_contract)
            ticker = self._ib.reqMktData(
                stream.ib_contract, _generic_ticks(stream.contract), False, False
            )
            self._streams[key] = _Stream(stream.contract, stream.ib_contract, ticker)
        if self._streams:
            log.info("resubscribed %d market-data lines", len(self._streams))

    def bars(
        self, contract: Contract, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame:
        """Historical OHLCV bars in [start, end); IB's 162 is retried with backoff, then raised."""
        self._session()
        ib_contract = self._ib_contract(contract)
        size = m.bar_size_setting(bar_seconds)
        duration = m.duration_text((end - start).total_seconds())
        attempts = self.connection.connect_retries + 1

        def fetch() -> list[Any]:
            return list(
                self._ib.reqHistoricalData(
                    ib_contract,
                    endDateTime=m.ib_datetime(end),
                    durationStr=duration,
                    barSizeSetting=size,
                    whatToShow="TRADES",
                    useRTH=False,
                    formatDate=2,
                )
            )

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self.connection.retry_backoff_s, exp_base=2),
            retry=retry_if_exception(
                lambda e: isinstance(e, RequestError) and e.code == m.CODE_HISTORICAL_DATA
            ),
            reraise=True,
        )
        try:
            rows = retrying(lambda: self._request(fetch))
        except RequestError as exc:
            raise BrokerError(
                f"historical data for {contract.key}: {exc.message}", code=exc.code
            ) from None
        day_start = self._day_start
        records = [
            (m.bar_start(b.date, day_start), b.open, b.high, b.low, b.close, float(b.volume))
            for b in rows
        ]
        df = pl.DataFrame(
            records,
            schema={
                "ts": pl.Datetime("us", "UTC"),
                "open": pl.Float64,
                "high": pl.Float64,
                "low": pl.Float64,
                "close": pl.Float64,
                "volume": pl.Float64,
            },
            orient="row",
        )
        return df.filter((pl.col("ts") >= start) & (pl.col("ts") < end))

    def _day_start(self, day: date) -> datetime:
        hours = self._market_hours()
        if hours.is_trading_day(day):
            return hours.session_bounds(day)[0]
        return m.session_day_start(day)

    def _line_refused(self, req_id: int) -> None:
        """IB refused a market-data line (101): note it; a line already kept is dropped now."""
        self._refused[req_id] = m.CODE_TOO_MANY_TICKERS
        for key, stream in list(self._streams.items()):
            if key in self._pending_lines or self._ticker_req_id(stream.ticker) != req_id:
                continue
            # A resubscription IB refused: the line is gone, its quotes come from snapshots.
            del self._streams[key]
            self._refused.pop(req_id, None)
            self._ib.cancelMktData(stream.ib_contract)
            self.refused_lines += 1
            self._ib_line_cap = len(self._streams)
            log.warning(
                "IB refused the market-data line of %s (error %d): back to snapshots, "
                "line budget now %d",
                key,
                m.CODE_TOO_MANY_TICKERS,
                self.line_budget,
            )

    def _on_tickers(self, tickers: Any) -> None:
        if not self._streams:
            return
        ts = self._stream_ts()
        by_ticker = {id(s.ticker): s for s in self._streams.values()}
        for ticker in tickers:
            stream = by_ticker.get(id(ticker))
            if stream is not None and _has_data(ticker):
                self.events.emit(QuoteEvent(m.domain_quote(stream.contract, ticker, ts)))


def _has_data(ticker: Ticker) -> bool:
    return any(
        math.isfinite(x) and x != -1.0 for x in (ticker.bid, ticker.ask, ticker.last, ticker.close)
    )


def _generic_ticks(contract: Contract) -> str:
    """Open interest (generic tick 101) for options; IB's dividends (456) for stocks."""
    if contract.is_option:
        return m.GENERIC_OPEN_INTEREST
    return m.GENERIC_DIVIDENDS if contract.sec_type is SecType.STOCK else ""
