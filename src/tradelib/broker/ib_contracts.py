"""Contracts section of the IB broker: qualification (cached), option chains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from ib_async import Contract as IbContract
from ib_async import (
    RequestError,
)

from tradelib.broker import ib_mapping as m
from tradelib.broker.ib_core import (
    IBCore,
)
from tradelib.broker.port import (
    OptionChainInfo,
)
from tradelib.domain import (
    NEW_YORK,
    Contract,
)
from tradelib.errors import (
    BrokerError,
    ContractError,
)

log = logging.getLogger("tradelib.broker.ib")


class IBContracts(IBCore):
    """Contract qualification and option chains over reqContractDetails / reqSecDefOptParams."""

    # --- contracts --------------------------------------------------------------------------
    def resolve(self, contract: Contract) -> Contract:
        """Qualify ``contract`` with IB (cached); ContractError naming it if unknown or ambiguous."""
        self._session()
        return self._resolve(contract)

    def _resolve(self, contract: Contract) -> Contract:
        cached = self._resolved.get(contract.key)
        if cached is not None:
            return cached
        spec = IbContract(**m.contract_fields(contract))
        try:
            details = self._request(lambda: list(self._ib.reqContractDetails(spec)))
        except RequestError as exc:
            if exc.code == m.CODE_NO_SECURITY:
                details = []
            else:
                raise BrokerError(
                    f"resolving {contract.key}: {exc.message}", code=exc.code
                ) from None
        if not details:
            raise ContractError(f"no security definition for {contract.key} ({contract.symbol})")
        if len(details) > 1:
            raise ContractError(f"{contract.key} is ambiguous: {len(details)} contracts match")
        ib_contract = details[0].contract
        if ib_contract is None:
            raise ContractError(f"IB returned no contract for {contract.key}")
        resolved = m.domain_contract(ib_contract)
        self._remember(resolved, ib_contract, details[0].minTick)
        self._resolved[contract.key] = resolved
        return resolved

    def _remember(self, contract: Contract, ib_contract: IbContract, min_tick: float = 0.0) -> None:
        if contract.con_id:
            self._ib_contracts.setdefault(contract.con_id, ib_contract)
            if min_tick and math.isfinite(min_tick) and min_tick > 0:
                self._min_ticks[contract.con_id] = float(min_tick)
            self._resolved.setdefault(contract.key, contract)

    def _ib_contract(self, contract: Contract) -> IbContract:
        resolved = self._resolve(contract)
        assert resolved.con_id is not None
        return self._ib_contracts[resolved.con_id]

    def option_chain(self, underlying: str) -> OptionChainInfo:
        """Expiries from reqSecDefOptParams, strikes per expiry from contract details (cached per day)."""
        symbol = underlying.strip().upper()
        today = self.now().astimezone(NEW_YORK).date()
        cached = self._chains.get((symbol, today))
        if cached is not None:
            return cached
        stock = self._resolve(Contract.stock(symbol))
        rows = self._request(
            lambda: list(self._ib.reqSecDefOptParams(symbol, "", "STK", int(stock.con_id or 0)))
        )
        if not rows:
            raise ContractError(f"no option chain for {symbol}")
        row = next(
            (r for r in rows if r.exchange == "SMART" and r.tradingClass == symbol),
            next((r for r in rows if r.exchange == "SMART"), rows[0]),
        )
        expiries = sorted(
            d for d in (m.parse_ib_date(e) for e in row.expirations) if d is not None and d >= today
        )
        per_expiry = self._request(
            lambda: self._strikes_by_expiry(symbol, row.tradingClass, expiries)
        )
        chain = OptionChainInfo(
            symbol,
            tuple(expiries),
            per_expiry,
            float(row.multiplier or 100),
            row.tradingClass or symbol,
            "SMART",
        )
        self._chains[(symbol, today)] = chain
        return chain

    def _strikes_by_expiry(
        self, symbol: str, trading_class: str, expiries: Sequence[date]
    ) -> dict[date, tuple[float, ...]]:
        """Listed call strikes per expiry, one contract-details request per expiry, concurrently."""
        specs = [
            IbContract(
                secType="OPT",
                symbol=symbol,
                lastTradeDateOrContractMonth=m.ib_date(e),
                right="C",
                exchange="SMART",
                currency="USD",
                tradingClass=trading_class or symbol,
            )
            for e in expiries
        ]

        async def fetch() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(self._ib.reqContractDetailsAsync(s) for s in specs), return_exceptions=True
                )
            )

        answers = self._ib.run(asyncio.wait_for(fetch(), self._ack_timeout_s))
        out: dict[date, tuple[float, ...]] = {}
        for expiry, details in zip(expiries, answers, strict=True):
            if isinstance(details, BaseException):
                continue
            strikes = sorted({float(d.contract.strike) for d in details})
            if strikes:
                out[expiry] = tuple(strikes)
            for d in details:
                c = m.domain_contract(d.contract)
                self._remember(c, d.contract, d.minTick)
        return out

    def _resolved_by_con_id(self, ib_contract: IbContract) -> Contract | None:
        if ib_contract.secType == "BAG":
            legs = ib_contract.comboLegs or []
            con_id = int(legs[0].conId) if legs else 0
        else:
            con_id = int(ib_contract.conId)
        for c in self._resolved.values():
            if c.con_id == con_id:
                return c
        if ib_contract.secType != "BAG":
            with contextlib.suppress(ContractError):
                return m.domain_contract(ib_contract)
        return None
