"""The gateway's contract catalog: IB contract specs matched against the simulated market.

A client describes a contract the IB way (a con_id, or symbol + sec type +
whatever it knows); the catalog answers with every listed instrument that
matches, as ``SimInstrument`` rows, and converts them to the wire and domain
forms. Partial option specs (no expiry, strike or right) match every listed
option that fits, as IB does.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from tradelib.domain import Contract, Right, SecType
from tradelib.errors import ContractError
from tradelib.gateway.parsing import DetailsExtra, WireContract, ib_date
from tradelib.sim import SimulatedMarket
from tradelib.sim.config import FUTURES, UNDERLYINGS, VIX
from tradelib.sim.contracts import option_con_ids, underlying_con_id
from tradelib.sim.types import SimInstrument

# Exchanges an option on an ETF is listed on; reqSecDefOptParams answers one row each.
OPTION_EXCHANGES: tuple[str, ...] = ("SMART", "CBOE", "AMEX", "ISE", "PHLX", "BOX", "NASDAQOM")
_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_LONG_NAMES = {
    "SPY": "SPDR S&P 500 ETF TRUST",
    "QQQ": "INVESCO QQQ TRUST SERIES 1",
    "IWM": "ISHARES RUSSELL 2000 ETF",
    "VIX": "CBOE Volatility Index",
    "ES": "E-mini S&P 500",
    "NQ": "E-mini NASDAQ 100",
    "RTY": "E-mini Russell 2000 Index",
}


class ContractCatalog:
    """Look up simulated instruments by IB contract spec or con_id."""

    def __init__(self, market: SimulatedMarket) -> None:
        self._market = market
        self._by_con_id: dict[int, SimInstrument] = {}

    # --- lookups ----------------------------------------------------------------------
    def by_con_id(self, con_id: int) -> SimInstrument | None:
        """The instrument behind ``con_id`` (None if it is not listed)."""
        found = self._by_con_id.get(con_id)
        if found is not None:
            return found
        try:
            inst = self._market.instrument(con_id)
        except (ContractError, KeyError, ValueError):
            return None
        self._by_con_id[con_id] = inst
        return inst

    def for_contract(self, contract: Contract) -> SimInstrument | None:
        """The instrument of a resolved domain contract (by its con_id)."""
        return None if contract.con_id is None else self.by_con_id(contract.con_id)

    def match(self, spec: WireContract) -> list[SimInstrument]:
        """Every listed instrument matching ``spec`` (empty when nothing does)."""
        if spec.currency and spec.currency.upper() != "USD":
            return []
        sec_type = spec.sec_type.upper()
        if spec.con_id:
            inst = self.by_con_id(spec.con_id)
            ok = inst is not None and (not sec_type or sec_type == inst.sec_type)
            return [inst] if ok and inst is not None else []
        symbol = spec.symbol.strip().upper()
        if sec_type == "STK":
            return self._underlying(symbol) if symbol in self._stocks() else []
        if sec_type == "IND":
            return self._underlying(symbol) if symbol == VIX else []
        if sec_type in ("FUT", "CONTFUT"):
            return self._futures(symbol, spec)
        if sec_type == "OPT":
            return self._options(symbol, spec)
        return []

    def resolve_one(self, spec: WireContract) -> SimInstrument | None:
        """The single instrument ``spec`` names (None if unknown or ambiguous)."""
        found = self.match(spec)
        return found[0] if len(found) == 1 else None

    def _stocks(self) -> tuple[str, ...]:
        return tuple(self._market.config.underlyings)

    def _underlying(self, symbol: str) -> list[SimInstrument]:
        inst = self.by_con_id(underlying_con_id(symbol))
        return [inst] if inst is not None else []

    def _futures(self, symbol: str, spec: WireContract) -> list[SimInstrument]:
        root = symbol or spec.local_symbol[:-2].upper()
        if root not in self._market.config.futures:
            return []
        fut = self._market.futures_contract(root)
        if spec.local_symbol and spec.local_symbol.upper() != fut.local_symbol:
            return []
        if spec.last_trade and not ib_date(fut.expiry).startswith(spec.last_trade[:6]):
            return []
        inst = self.by_con_id(int(fut.con_id))
        return [inst] if inst is not None else []

    def _options(self, symbol: str, spec: WireContract) -> list[SimInstrument]:
        if symbol not in self._stocks():
            return []
        if spec.trading_class and spec.trading_class.upper() != symbol:
            return []
        if spec.multiplier and spec.multiplier not in ("100", "100.0"):
            return []
        right = _RIGHTS.get(spec.right.upper()) if spec.right else None
        if spec.right and right is None:
            return []
        out: list[SimInstrument] = []
        for expiry in self._market.expiries(symbol):
            if spec.last_trade and not ib_date(expiry).startswith(spec.last_trade):
                continue
            strikes = np.asarray(self._market.strikes(symbol, expiry), dtype=np.float64)
            if spec.strike:
                strikes = strikes[np.isclose(strikes, spec.strike)]
                if strikes.size == 0:
                    # Once listed, a strike stays listed while the spot drifts away
                    # from it: accept any strike on the class's lattice, as SimBroker does.
                    out.extend(self._lattice_option(symbol, expiry, spec.strike, right))
                    continue
            for r in ("C", "P") if right is None else (right,):
                calls = np.full(strikes.shape, r == "C")
                for con_id in option_con_ids(symbol, expiry, strikes, calls):
                    inst = self.by_con_id(int(con_id))
                    if inst is not None:
                        out.append(inst)
        return out

    def _lattice_option(
        self, symbol: str, expiry: date, strike: float, right: str | None
    ) -> list[SimInstrument]:
        out: list[SimInstrument] = []
        for r in ("C", "P") if right is None else (right,):
            try:
                con_id = self._market.con_id(symbol, expiry=expiry, strike=strike, right=r)
            except ContractError:
                continue
            inst = self.by_con_id(con_id)
            if inst is not None:
                out.append(inst)
        return out

    # --- conversions ----------------------------------------------------------------------
    def details_extra(self, inst: SimInstrument) -> DetailsExtra:
        """The contractDetails fields beyond the contract for ``inst``."""
        kind = inst.sec_type
        if kind == "OPT":
            assert inst.expiry is not None
            return DetailsExtra(
                market_name=inst.trading_class or inst.symbol,
                min_tick=0.01,
                long_name=_LONG_NAMES.get(inst.symbol, inst.symbol),
                contract_month=f"{inst.expiry:%Y%m}",
                under_con_id=underlying_con_id(inst.symbol),
                under_symbol=inst.symbol,
                under_sec_type="STK",
                valid_exchanges=",".join(OPTION_EXCHANGES),
                real_expiration=ib_date(inst.expiry),
            )
        if kind == "FUT":
            assert inst.expiry is not None
            return DetailsExtra(
                market_name=inst.symbol,
                min_tick=FUTURES[inst.symbol].tick,
                long_name=_LONG_NAMES.get(inst.symbol, inst.symbol),
                contract_month=f"{inst.expiry:%Y%m}",
                under_symbol=inst.symbol,
                under_sec_type="IND",
                valid_exchanges="CME",
                time_zone="US/Central",
                real_expiration=ib_date(inst.expiry),
            )
        if kind == "IND":
            return DetailsExtra(
                market_name=inst.symbol,
                min_tick=0.01,
                long_name=_LONG_NAMES.get(inst.symbol, inst.symbol),
                valid_exchanges="CBOE",
                order_types="",
            )
        return DetailsExtra(
            market_name=inst.symbol,
            min_tick=0.01,
            long_name=_LONG_NAMES.get(inst.symbol, inst.symbol),
            valid_exchanges=f"SMART,{inst.primary_exchange}",
            stock_type="ETF",
            industry="Funds",
            category="Equity Fund",
        )

    @staticmethod
    def wire(inst: SimInstrument, exchange: str | None = None) -> WireContract:
        """``inst`` as the wire carries it (8-digit expiry, multiplier text for derivatives)."""
        derivative = inst.sec_type in ("OPT", "FUT")
        return WireContract(
            con_id=inst.con_id,
            symbol=inst.symbol,
            sec_type=inst.sec_type,
            last_trade=ib_date(inst.expiry),
            strike=float(inst.strike or 0.0),
            right=inst.right or "",
            multiplier=str(int(inst.multiplier)) if derivative else "",
            exchange=exchange or inst.exchange,
            primary_exchange=inst.primary_exchange,
            currency=inst.currency,
            local_symbol=inst.local_symbol,
            trading_class=inst.trading_class or inst.symbol,
        )

    @staticmethod
    def domain(inst: SimInstrument) -> Contract:
        """``inst`` as a resolved broker-neutral contract."""
        kind = inst.sec_type
        if kind == "OPT":
            assert inst.expiry is not None and inst.strike is not None and inst.right
            return Contract.option(
                inst.symbol,
                inst.expiry,
                inst.strike,
                Right(inst.right),
                multiplier=float(inst.multiplier),
                trading_class=inst.trading_class or inst.symbol,
                con_id=inst.con_id,
            )
        if kind == "FUT":
            assert inst.expiry is not None
            return Contract.future(
                inst.symbol,
                inst.expiry,
                float(inst.multiplier),
                local_symbol=inst.local_symbol,
                exchange=inst.exchange,
                con_id=inst.con_id,
            )
        if kind == "IND":
            return Contract(SecType.INDEX, inst.symbol, inst.exchange, con_id=inst.con_id)
        return Contract(SecType.STOCK, inst.symbol, "SMART", con_id=inst.con_id)

    def listed_expiries(self, symbol: str) -> list[date]:
        """Option expiries of ``symbol`` (empty for an unknown symbol)."""
        if symbol not in self._stocks():
            return []
        return list(self._market.expiries(symbol))

    def listed_strikes(self, symbol: str) -> list[float]:
        """The union of strikes over every expiry of ``symbol``."""
        strikes: set[float] = set()
        for expiry in self.listed_expiries(symbol):
            strikes.update(float(k) for k in np.asarray(self._market.strikes(symbol, expiry)))
        return sorted(strikes)


def primary_exchange(symbol: str) -> str:
    """The listing exchange of an ETF (CBOE for VIX)."""
    spec = UNDERLYINGS.get(symbol)
    return spec.primary_exchange if spec is not None else "CBOE"
