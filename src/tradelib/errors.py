"""Every exception tradelib raises, in one place.

Each class carries a message template; IB error codes stay on the exceptions
that carry them. Exceptions are for broken invariants and bad input: a risk
denial is a value (see ``tradelib.risk``), never an exception.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TradelibError(Exception):
    """Base class: formats ``template`` with the keyword arguments given."""

    template: ClassVar[str] = "{message}"

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.fields = fields
        if message is None:
            try:
                message = self.template.format(**fields)
            except (KeyError, IndexError):
                message = f"{type(self).__name__}: {fields}"
        self.message = message
        super().__init__(message)


# --- configuration -----------------------------------------------------------
class ConfigError(TradelibError):
    """The configuration file or an override is invalid."""

    template = "invalid configuration: {message}"


class LiveTradingNotAllowed(ConfigError):
    """Live trading was requested without the double opt-in."""

    template = (
        "live trading refused: it needs ib.allow_live: true in the config AND "
        "TRADELIB_ALLOW_LIVE=1 in the environment ({missing})"
    )


# --- domain / market data ----------------------------------------------------
class InvalidQuoteError(TradelibError):
    """A quote that must not be traded on (NaN, -1, crossed, stale...)."""

    template = "invalid quote for {symbol}: {reason}"


class ContractError(TradelibError):
    """A contract could not be resolved or is malformed."""

    template = "contract error: {message}"


# --- pricing -------------------------------------------------------------------
class PricingInputError(TradelibError):
    """Pricing inputs are malformed (shapes, negative vol, unknown right...)."""

    template = "bad pricing input '{name}': {problem}"


# --- lake ------------------------------------------------------------------------
class LakeError(TradelibError):
    """A Delta Lake operation failed."""

    template = "lake error on table '{table}': {problem}"


class UnknownTableError(LakeError):
    template = "unknown lake table '{table}' (known: {known})"


class SchemaMismatchError(LakeError):
    """Data written to a table does not match its declared schema; nothing was written."""

    template = "schema mismatch writing '{table}': {problem}; nothing was written"


class CommitConflictError(LakeError):
    """Commit conflicts persisted after all retries."""

    template = "commit to '{table}' still conflicting after {attempts} attempts: {problem}"


# --- broker ----------------------------------------------------------------------
class BrokerError(TradelibError):
    """An error reported by (or about) the broker. ``code`` is IB's error code if any."""

    template = "broker error {code}: {message}"

    def __init__(self, message: str | None = None, *, code: int | None = None, **fields: Any):
        self.code = code
        super().__init__(message, code=code, **fields)


class NotConnectedError(BrokerError):
    template = "not connected to the broker: {message}"


class ClientIdInUseError(NotConnectedError):
    """Every configured IB client id is taken (IB error 326)."""

    template = (
        "IB client id(s) {ids} already in use at {where} (IB error 326): stop the other "
        "session or add free ids to ib.client_ids.fallback"
    )


class MarketDataLineLimitError(BrokerError):
    """Streaming would exceed the market-data line budget (IB error 101 territory)."""

    template = "market-data line budget exhausted: {in_use} of {budget} lines in use, {requested} requested"


class OrderRejectedError(BrokerError):
    template = "order {order_ref} rejected: {reason}"


class UnknownOrderError(BrokerError):
    """No order with this order_ref exists at the broker."""

    template = "no order with order_ref {order_ref}"


class ReadOnlyModeError(BrokerError):
    """An order action was attempted while the broker runs read-only."""

    template = "read-only mode: refused to {action}"


class MarketClosedError(BrokerError):
    template = "market closed at {when}: {message}"


class GatewayFaultSpecError(TradelibError):
    """A fault spec for the simulated gateway (``--faults``, control channel) is malformed."""

    template = "bad gateway fault '{item}': {problem}"


# --- decisions and regimes -----------------------------------------------------------
class RegimeInputError(TradelibError):
    """Bars handed to the regime detector are malformed (missing columns, naive times)."""

    template = "bad regime input '{series}': {problem}"


class StrategyStateError(TradelibError):
    """A strategy state cannot be built from the inputs given (e.g. a naive time)."""

    template = "cannot build the state of strategy {strategy_id}: {problem}"


# --- strategy entry ----------------------------------------------------------------------
class ChainDataError(TradelibError):
    """Option-chain input cannot be turned into a chain (mixed underlyings, no spot...)."""

    template = "option chain for {underlying}: {problem}"


# --- risk and execution ----------------------------------------------------------
class RiskInputError(TradelibError):
    """Inputs to a risk calculation are missing or malformed (a denial is a value, not this)."""

    template = "bad risk input '{name}': {problem}"


class ExecutionPlanError(TradelibError):
    """An execution plan is malformed (bad bound, no legs, conflicting journal)."""

    template = "bad execution plan {plan}: {problem}"


# --- futures collection ----------------------------------------------------------
class CollectorAlreadyRunningError(TradelibError):
    """Another futures collector holds the single-instance lock."""

    template = (
        "another futures collector (pid {pid}) holds the lock {path}; not starting a second one"
    )


# --- scheduler ---------------------------------------------------------------------
class SchedulerError(TradelibError):
    """The job scheduler was given something it cannot act on."""

    template = "scheduler: {message}"


class UnknownJobError(SchedulerError):
    """A job name that is neither scheduled nor backed by a notebook."""

    template = "unknown job '{job}' (known: {known})"


class SecretInParametersError(SchedulerError):
    """A job's notebook parameters would carry a secret (they are written into the notebook)."""

    template = "refused to run '{job}': parameter '{name}' looks like a secret"


# --- position sync -----------------------------------------------------------------
class SyncAnomalyError(TradelibError):
    """The sync stopped instead of trusting the broker's answer (an anomaly event says why)."""

    template = "position sync stopped: {reason}"


class DemoLakeError(LakeError):
    """The demo's lake holds data the demo did not write."""

    template = (
        "the lake at {root} holds tables the demo did not write ({tables}); the demo needs "
        "a lake of its own: pass --lake, set storage.lake_uri, or --fresh to empty this one"
    )


# --- the book ------------------------------------------------------------------
class BookInvariantError(TradelibError):
    """The book broke an invariant (legs vs broker, cash, decisions, keys): the run stops."""

    template = "book invariants violated on {day}: {summary}"


class BacktestError(TradelibError):
    """A backtest cannot run as asked (bad range, a run id already stored, bad input)."""

    template = "backtest: {problem}"


class GridError(TradelibError):
    """A sweep definition that cannot run: names the file, the key and the problem."""

    template = "sweep grid {source}: {problem}"


class SweepError(TradelibError):
    """A sweep that cannot start or finish as asked (cluster unreachable, id clash)."""

    template = "sweep {sweep_id}: {problem}"


# --- backtest data -------------------------------------------------------------
class BacktestDataError(TradelibError):
    """A history or chain file the user brought is unusable: names file, row(s) and problem."""

    template = "{file}: {problem}"


class DataRangeError(BacktestDataError):
    """A date range asked of a market source reaches outside its data."""

    template = "{source}: {problem} (data available {first}..{last})"
