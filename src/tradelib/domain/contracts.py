"""Broker-neutral contract descriptions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from tradelib.domain.enums import Right, SecType
from tradelib.errors import ContractError

_MULTIPLIERS = {SecType.STOCK: 1.0, SecType.INDEX: 1.0, SecType.OPTION: 100.0}


@dataclass(frozen=True, slots=True)
class Contract:
    """One tradable (or quotable) instrument.

    ``symbol`` is the underlying symbol for options and the root for futures
    (``ES``); ``local_symbol`` carries the exchange's own name (``ESZ6``).
    ``con_id`` is the broker's id once the contract has been resolved.
    """

    sec_type: SecType
    symbol: str
    exchange: str = "SMART"
    currency: str = "USD"
    expiry: date | None = None
    strike: float | None = None
    right: Right | None = None
    multiplier: float = 1.0
    local_symbol: str = ""
    trading_class: str = ""
    con_id: int | None = None
    # ``key`` once computed (a risk check or a chain snapshot asks it thousands of times)
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol or not self.symbol.strip():
            raise ContractError("contract symbol is empty")
        if self.sec_type is SecType.OPTION:
            missing = [
                name
                for name, value in (
                    ("expiry", self.expiry),
                    ("strike", self.strike),
                    ("right", self.right),
                )
                if value is None
            ]
            if missing:
                raise ContractError(f"option on {self.symbol} is missing {', '.join(missing)}")
            assert self.strike is not None
            if not math.isfinite(self.strike) or self.strike <= 0:
                raise ContractError(
                    f"option on {self.symbol}: strike must be > 0, got {self.strike}"
                )
        if self.sec_type is SecType.FUTURE and self.expiry is None:
            raise ContractError(f"future {self.symbol} is missing its expiry")
        if not math.isfinite(self.multiplier) or self.multiplier <= 0:
            raise ContractError(f"{self.symbol}: multiplier must be > 0, got {self.multiplier}")

    # --- constructors -------------------------------------------------------------
    @classmethod
    def stock(cls, symbol: str, exchange: str = "SMART", currency: str = "USD") -> Contract:
        return cls(SecType.STOCK, symbol, exchange, currency)

    @classmethod
    def index(cls, symbol: str, exchange: str = "CBOE") -> Contract:
        return cls(SecType.INDEX, symbol, exchange)

    @classmethod
    def future(
        cls,
        symbol: str,
        expiry: date,
        multiplier: float,
        *,
        local_symbol: str = "",
        exchange: str = "CME",
        con_id: int | None = None,
    ) -> Contract:
        return cls(
            SecType.FUTURE,
            symbol,
            exchange,
            expiry=expiry,
            multiplier=multiplier,
            local_symbol=local_symbol,
            con_id=con_id,
        )

    @classmethod
    def option(
        cls,
        symbol: str,
        expiry: date,
        strike: float,
        right: Right | str,
        *,
        multiplier: float = 100.0,
        exchange: str = "SMART",
        trading_class: str = "",
        con_id: int | None = None,
    ) -> Contract:
        return cls(
            SecType.OPTION,
            symbol,
            exchange,
            expiry=expiry,
            strike=float(strike),
            right=Right(right),
            multiplier=multiplier,
            trading_class=trading_class or symbol,
            con_id=con_id,
        )

    # --- identity ---------------------------------------------------------------------
    @property
    def key(self) -> str:
        """A stable, human-readable identity independent of the broker's con_id."""
        try:
            known = self._key
        except AttributeError:  # unpickled from a version without the cache
            known = ""
        if not known:
            known = self._identity()
            object.__setattr__(self, "_key", known)
        return known

    def _identity(self) -> str:
        if self.sec_type is SecType.OPTION:
            assert self.expiry is not None and self.strike is not None and self.right is not None
            return option_key(self.symbol, self.expiry, self.strike, self.right)
        if self.sec_type is SecType.FUTURE:
            assert self.expiry is not None
            return f"{self.symbol} FUT {self.local_symbol or f'{self.expiry:%Y%m}'}"
        return f"{self.symbol} {self.sec_type.value}"

    @property
    def is_option(self) -> bool:
        return self.sec_type is SecType.OPTION

    def with_con_id(self, con_id: int) -> Contract:
        return replace(self, con_id=con_id)

    def dte(self, today: date) -> int:
        """Calendar days to expiry (0 on expiry day); ContractError if no expiry."""
        if self.expiry is None:
            raise ContractError(f"{self.key} has no expiry")
        return (self.expiry - today).days

    def __str__(self) -> str:
        return self.key


def option_key(symbol: str, expiry: date, strike: float, right: Right) -> str:
    """The ``key`` of the option ``symbol`` ``expiry`` ``strike`` ``right``, without building it."""
    return option_key_of(option_key_prefix(symbol, expiry), strike, right)


def option_key_prefix(symbol: str, expiry: date) -> str:
    """What the keys of every option of ``symbol`` expiring on ``expiry`` start with."""
    return f"{symbol} {expiry:%Y%m%d} "


def option_key_of(prefix: str, strike: float, right: Right) -> str:
    """An option's key from its ``option_key_prefix`` (one prefix serves a whole expiry)."""
    return f"{prefix}{strike_text(strike)} {right.value}"


def strike_text(strike: float) -> str:
    """A strike as option keys spell it."""
    return f"{strike:g}"


def default_multiplier(sec_type: SecType) -> float:
    return _MULTIPLIERS.get(sec_type, 1.0)


def contract_to_dict(c: Contract) -> dict[str, Any]:
    """``c`` as plain JSON-ready fields (the one serialized form of a contract in the lake)."""
    return {
        "sec_type": c.sec_type.value,
        "symbol": c.symbol,
        "exchange": c.exchange,
        "currency": c.currency,
        "expiry": c.expiry.isoformat() if c.expiry else None,
        "strike": c.strike,
        "right": c.right.value if c.right else None,
        "multiplier": c.multiplier,
        "local_symbol": c.local_symbol,
        "trading_class": c.trading_class,
        "con_id": c.con_id,
    }


def contract_from_dict(d: Mapping[str, Any]) -> Contract:
    """The contract ``contract_to_dict`` wrote (missing optional fields take their defaults)."""
    return Contract(
        sec_type=SecType(d["sec_type"]),
        symbol=d["symbol"],
        exchange=d.get("exchange") or "SMART",
        currency=d.get("currency") or "USD",
        expiry=date.fromisoformat(d["expiry"]) if d.get("expiry") else None,
        strike=d.get("strike"),
        right=Right(d["right"]) if d.get("right") else None,
        multiplier=float(d.get("multiplier") or 1.0),
        local_symbol=d.get("local_symbol") or "",
        trading_class=d.get("trading_class") or "",
        con_id=d.get("con_id"),
    )
