"""Run preflight: connect read-only to TWS / IB Gateway and check what the jobs will need.

Nothing is ever placed: option permission and margin are asked with what-if
orders, which IB answers without keeping them. Each check is a line with the
fix; the run is a go when none failed.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker, QuoteProbe
from tradelib.broker.modes import LIVE_PORTS
from tradelib.config import TradingConfig, workspace_root
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Right,
    SecType,
    TradingMode,
    make_order_ref,
)
from tradelib.errors import BrokerError, ConfigError, NotConnectedError, TradelibError
from tradelib.preflight.report import Check, CheckStatus, PreflightReport

PAPER_PORTS = frozenset({7497, 4002})
NAKED_STRATEGIES = frozenset({"short_put", "short_strangle"})
CLOCK_OK_S = 2.0
CLOCK_WARN_S = 60.0
VIX = Contract(SecType.INDEX, "VIX", "CBOE", "USD")
CODE_PACING = 162

_FEEDS = {
    SecType.STOCK: "a US equities feed (e.g. 'US Securities Snapshot and Futures Value Bundle')",
    SecType.OPTION: "'OPRA (US Options Exchanges)'",
    SecType.INDEX: "'CBOE Market Data' (VIX)",
}


def _subscribe_fix(contract: Contract) -> str:
    feed = _FEEDS.get(contract.sec_type, "the exchange's real-time feed")
    return (
        f"subscribe to {feed} in Client Portal (Settings > Market Data Subscriptions); a paper "
        "account also needs 'share real-time market data subscriptions' with it switched on "
        "in the live account"
    )


def run_preflight(
    cfg: TradingConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    lake_uri: str | None = None,
    connection: IBConnectionManager | None = None,
) -> PreflightReport:
    """Check ``cfg``'s IB set-up against the server at ``host:port`` (default: ``cfg.ib``)."""
    where_host = host or cfg.ib.host
    where_port = int(port or cfg.ib.port)
    checks: list[Check] = [_mode_check(cfg, where_port, env)]
    conn = connection or _connection(cfg, where_host, where_port)
    broker = IBBroker(
        conn,
        mode=TradingMode.READONLY,
        line_budget=cfg.market_data.line_budget,
        clock_sync_s=cfg.ib.clock_sync_s,
    )
    connected = _connect(broker, checks, where_host, where_port)
    try:
        if connected:
            checks += _session_checks(cfg, broker)
        else:
            names = ["clock", "account", "option permission", "account type", "quotes"]
            names += ["option chain", "historical bars"]
            checks += [Check(n, CheckStatus.SKIP, "not connected") for n in names]
    finally:
        with contextlib.suppress(Exception):
            broker.disconnect()
    checks.append(_lake_check(cfg, lake_uri))
    checks.append(_breaker_check(cfg, lake_uri))
    return PreflightReport(tuple(checks))


def _connection(cfg: TradingConfig, host: str, port: int) -> IBConnectionManager:
    ids = cfg.ib.client_ids
    return IBConnectionManager(
        host,
        port,
        (ids.research, *ids.fallback),
        role="research",
        account=cfg.ib.account_id(),
        connect_timeout_s=cfg.ib.connect_timeout_s,
        request_timeout_s=cfg.ib.request_timeout_s,
        connect_retries=cfg.ib.connect_retries,
        retry_backoff_s=cfg.ib.retry_backoff_s,
        max_requests_per_s=cfg.ib.max_requests_per_s,
    )


# --- before connecting ---------------------------------------------------------------------
def _mode_check(cfg: TradingConfig, port: int, env: Mapping[str, str] | None) -> Check:
    mode = cfg.ib.mode
    if mode == "sim":
        return Check(
            "mode",
            CheckStatus.WARN,
            "ib.mode is sim: the jobs trade the embedded simulated market, not this server",
            "set ib.mode: paper (or readonly) in the config to use IB",
        )
    if mode == "live":
        try:
            cfg.ensure_live_allowed(env if env is not None else os.environ)
        except ConfigError as exc:
            return Check("mode", CheckStatus.FAIL, exc.message, "see docs/paper-trading.md")
        if port in PAPER_PORTS:
            return Check(
                "mode",
                CheckStatus.FAIL,
                f"ib.mode is live but port {port} is a paper port",
                "live TWS listens on 7496, live IB Gateway on 4001",
            )
    if mode in ("paper", "readonly") and port in LIVE_PORTS:
        return Check(
            "mode",
            CheckStatus.FAIL,
            f"ib.mode is {mode} but port {port} is a live trading port",
            "use the paper port: 7497 (TWS) or 4002 (IB Gateway)",
        )
    if port not in PAPER_PORTS | LIVE_PORTS:
        return Check(
            "mode",
            CheckStatus.WARN,
            f"ib.mode {mode}; port {port} is not a standard TWS / IB Gateway port",
            "TWS: 7497 paper / 7496 live; IB Gateway: 4002 paper / 4001 live",
        )
    return Check("mode", CheckStatus.PASS, f"ib.mode {mode} on port {port}")


def _connect(broker: IBBroker, checks: list[Check], host: str, port: int) -> bool:
    try:
        broker.connect()
    except ConfigError as exc:  # the account check of the connection manager
        checks.append(
            Check(
                "connection",
                CheckStatus.FAIL,
                exc.message,
                "set TRADELIB_IB_ACCOUNT to an account this login manages (or unset it "
                "when the login has a single account)",
            )
        )
        return False
    except (NotConnectedError, BrokerError) as exc:
        checks.append(
            Check(
                "connection",
                CheckStatus.FAIL,
                f"no API session at {host}:{port}: {exc.message}",
                "start TWS or IB Gateway (IBC or the gateway container) and log in; enable "
                "API > Settings > 'Enable ActiveX and Socket Clients' on this port with "
                "127.0.0.1 trusted; a server that accepts and drops the session may be in "
                "its daily auto-restart: move the restart time (IBC AutoRestartTime) outside "
                "market hours and the job schedule",
            )
        )
        return False
    checks.append(
        Check(
            "connection",
            CheckStatus.PASS,
            f"{host}:{port}, server version {broker.server_version}, "
            f"client id {broker.connection.client_id}",
        )
    )
    return True


# --- with a session ------------------------------------------------------------------------------
def _session_checks(cfg: TradingConfig, broker: IBBroker) -> list[Check]:
    checks = [_clock_check(broker), _account_check(cfg, broker)]
    for fn in (_permission_and_margin, _quote_checks, _chain_check, _bars_check):
        try:
            checks += fn(cfg, broker)
        except TradelibError as exc:  # one broken check must not hide the others
            checks.append(
                Check(fn.__name__.strip("_").replace("_", " "), CheckStatus.FAIL, exc.message)
            )
    return checks


def _clock_check(broker: IBBroker) -> Check:
    server = broker.now()
    offset = (server - datetime.now(UTC)).total_seconds()
    text = f"server time {server:%Y-%m-%d %H:%M:%S} UTC, {offset:+.1f} s from this machine"
    if abs(offset) <= CLOCK_OK_S:
        return Check("clock", CheckStatus.PASS, text)
    fix = "keep this machine's clock synced (NTP / chrony)"
    if abs(offset) > CLOCK_WARN_S:
        fix += "; a simulated gateway runs its own clock (expected there), a real TWS does not"
    return Check("clock", CheckStatus.WARN, text, fix)


def _account_check(cfg: TradingConfig, broker: IBBroker) -> Check:
    account = broker.connection.account
    masked = broker.connection.masked_account
    managed = broker.managed_accounts()
    mode = cfg.ib.mode
    paper_like = account.upper().startswith("D")
    if mode == "paper" and not paper_like:
        return Check(
            "account",
            CheckStatus.FAIL,
            f"ib.mode is paper but {masked} is not a paper account (those start with D)",
            "connect to the paper login's port (7497 / 4002)",
        )
    if mode == "live" and paper_like:
        return Check(
            "account",
            CheckStatus.FAIL,
            f"ib.mode is live but {masked} is a paper account",
            "connect to the live login's port (7496 / 4001)",
        )
    others = len(managed) - 1
    also = f"; {others} other managed account(s) are never traded" if others > 0 else ""
    return Check("account", CheckStatus.PASS, f"{masked} is managed; orders name it{also}")


def _chain_expiry_and_strike(broker: IBBroker, symbol: str, cfg: TradingConfig) -> Contract:
    """A sample put ~5% out of the money in the entry DTE window (or the nearest later expiry)."""
    chain = broker.option_chain(symbol)
    today = broker.now().date()
    window = [
        e
        for e in chain.expiries
        if cfg.strategies.dte_min <= (e - today).days <= cfg.strategies.dte_max
    ]
    later = [e for e in chain.expiries if (e - today).days >= 7]
    expiry = (window or later or list(chain.expiries))[0]
    strikes = chain.strikes_for(expiry)
    spot = broker.snapshot([Contract.stock(symbol)])[0].mark
    target = spot * 0.95 if math.isfinite(spot) else strikes[len(strikes) // 2]
    strike = min(strikes, key=lambda k: abs(k - target))
    return broker.resolve(Contract.option(symbol, expiry, strike, Right.PUT))


def _intent(broker: IBBroker, put: Contract, ratio: int, limit: float) -> OrderIntent:
    ref = make_order_ref("preflight", OrderPurpose.OPEN)
    return OrderIntent(
        order_ref=ref,
        strategy_id="preflight",
        purpose=OrderPurpose.OPEN,
        legs=(Leg(put, ratio),),
        quantity=1,
        limit_price=limit,
        created_at=broker.now(),
        order_type=OrderType.LIMIT,
    )


def _permission_and_margin(cfg: TradingConfig, broker: IBBroker) -> list[Check]:
    put = _chain_expiry_and_strike(broker, cfg.strategies.underlyings[0], cfg)
    buy = broker.what_if(_intent(broker, put, +1, 0.05))
    if not buy.accepted:
        permission = "permission" in buy.message.lower()
        return [
            Check(
                "option permission",
                CheckStatus.FAIL,
                f"IB refuses a what-if option order ({buy.code}): {buy.message}",
                "ask for options trading permission (Client Portal > Settings > Trading "
                "Permissions > Options, level allowing the configured strategies)"
                if permission
                else "read IB's reason above; the jobs' option orders would get the same",
                buy.code,
            ),
            Check("account type", CheckStatus.SKIP, "needs option permission first"),
        ]
    checks = [Check("option permission", CheckStatus.PASS, "what-if option order accepted")]
    kind = broker.account_values().get("AccountType", "") or "unknown"
    naked = sorted(NAKED_STRATEGIES & set(cfg.strategies.enabled))
    if not naked:
        checks.append(
            Check("account type", CheckStatus.PASS, f"{kind}; only defined-risk strategies enabled")
        )
        return checks
    fix = (
        f"{', '.join(naked)} need a margin account: upgrade the account to margin, or remove "
        "them from strategies.enabled"
    )
    if any(word in kind.upper() for word in ("IRA", "CASH")):
        checks.append(
            Check(
                "account type", CheckStatus.FAIL, f"{kind} account cannot sell naked options", fix
            )
        )
        return checks
    sell = broker.what_if(_intent(broker, put, -1, -0.05))  # a credit: negative net price
    if not sell.accepted:
        checks.append(
            Check(
                "account type",
                CheckStatus.FAIL,
                f"IB refuses a naked short put ({sell.code}): {sell.message}",
                fix,
                sell.code,
            )
        )
        return checks
    checks.append(Check("account type", CheckStatus.PASS, f"{kind}; naked short put accepted"))
    return checks


def _quote_checks(cfg: TradingConfig, broker: IBBroker) -> list[Check]:
    symbol = cfg.strategies.underlyings[0]
    contracts = [Contract.stock(s) for s in cfg.strategies.underlyings] + [VIX]
    contracts.append(_chain_expiry_and_strike(broker, symbol, cfg))
    return [_quote_check(probe) for probe in broker.probe_quotes(contracts)]


def _quote_check(probe: QuoteProbe) -> Check:
    c = probe.contract
    name = f"quotes {c.symbol} option" if c.is_option else f"quotes {c.symbol}"
    what = c.key if c.is_option else c.symbol
    if probe.data_type == "realtime" and probe.quote is not None:
        q = probe.quote
        seen = f"bid {q.bid:g} / ask {q.ask:g}" if math.isfinite(q.mid) else f"last {q.last:g}"
        return Check(name, CheckStatus.PASS, f"real-time {what}: {seen}")
    if probe.data_type == "none":
        code = f"IB {probe.code}: {probe.message}" if probe.code else "no tick arrived"
        return Check(
            name, CheckStatus.FAIL, f"no quotes for {what} ({code})", _subscribe_fix(c), probe.code
        )
    why = f" (IB {probe.code}: {probe.message})" if probe.code else ""
    return Check(
        name,
        CheckStatus.FAIL,
        f"{probe.data_type.replace('_', ' ')} quotes only for {what}{why}: the jobs need "
        "real-time quotes to price orders",
        _subscribe_fix(c),
        probe.code,
    )


def _chain_check(cfg: TradingConfig, broker: IBBroker) -> list[Check]:
    found = []
    for symbol in cfg.strategies.underlyings:
        chain = broker.option_chain(symbol)
        found.append(f"{symbol} {len(chain.expiries)} expiries")
    return [Check("option chain", CheckStatus.PASS, ", ".join(found))]


def _bars_check(cfg: TradingConfig, broker: IBBroker) -> list[Check]:
    symbol = cfg.strategies.underlyings[0]
    stock = broker.resolve(Contract.stock(symbol))
    end = broker.now()
    try:
        bars = broker.bars(stock, end - timedelta(days=2), end, 300)
    except BrokerError as exc:
        pacing = exc.code == CODE_PACING and "pacing" in exc.message.lower()
        return [
            Check(
                "historical bars",
                CheckStatus.FAIL,
                f"{symbol} 5-minute bars: {exc.message}",
                "IB paces historical data (about 60 requests per 10 minutes, no identical "
                "request within 15 s): wait 10 minutes and stop other sessions' backfills"
                if pacing
                else "check the HMDS farm status in TWS and the data subscriptions",
                exc.code,
            )
        ]
    if bars.height == 0:
        return [Check("historical bars", CheckStatus.WARN, f"{symbol}: no bars in 2 days")]
    return [Check("historical bars", CheckStatus.PASS, f"{symbol}: {bars.height} 5-minute bars")]


# --- local state --------------------------------------------------------------------------------
def _lake_path(cfg: TradingConfig, lake_uri: str | None) -> tuple[str, Path | None]:
    uri = lake_uri or cfg.storage.lake_uri
    if "://" in uri and not uri.startswith("file://"):
        return uri, None
    path = Path(uri.removeprefix("file://"))
    return uri, path if path.is_absolute() else workspace_root() / path


def _remote_lake_check(cfg: TradingConfig, uri: str) -> Check:
    from tradelib.lake import Lake
    from tradelib.lake.store import ConditionalPutError

    lake = Lake.open(uri, cfg.storage)
    if not lake.verify_conditional_put or not uri.startswith(("s3://", "s3a://")):
        try:
            lake.tables()
        except (TradelibError, OSError) as exc:
            return Check("lake", CheckStatus.FAIL, f"{uri} is not readable: {exc}")
        return Check(
            "lake",
            CheckStatus.WARN,
            f"{uri} is readable; conditional PUT not verified",
            "several writers are safe only on a store that honours If-None-Match",
        )
    try:
        lake.verify_store(force=True)
    except ConditionalPutError as exc:
        return Check(
            "lake",
            CheckStatus.FAIL,
            exc.message,
            "use a store that honours conditional PUT (AWS S3, MinIO, R2)",
        )
    except (TradelibError, OSError) as exc:
        return Check(
            "lake",
            CheckStatus.FAIL,
            f"{uri} is not writable: {exc}",
            "check storage.endpoint_url / region, the bucket, and the AWS_* credentials",
        )
    return Check("lake", CheckStatus.PASS, f"{uri} is writable and refuses overwrites")


def _lake_check(cfg: TradingConfig, lake_uri: str | None) -> Check:
    uri, path = _lake_path(cfg, lake_uri)
    if path is None:
        return _remote_lake_check(cfg, uri)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".preflight-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check(
            "lake",
            CheckStatus.FAIL,
            f"{path} is not writable: {exc.strerror or exc}",
            "fix the folder's permissions or point storage.lake_uri elsewhere",
        )
    return Check("lake", CheckStatus.PASS, f"{path} is writable")


def _breaker_check(cfg: TradingConfig, lake_uri: str | None) -> Check:
    from tradelib.lake import Lake
    from tradelib.risk import BreakerPolicy
    from tradelib.stores.risk import LakeBreakerStore

    uri, path = _lake_path(cfg, lake_uri)
    try:
        lake = Lake.open(str(path) if path is not None else uri, cfg.storage)
        status = BreakerPolicy(cfg.risk.circuit_breaker).status(
            LakeBreakerStore(lake).latest(), datetime.now(UTC)
        )
    except TradelibError as exc:
        return Check("circuit breaker", CheckStatus.WARN, f"state unreadable: {exc.message}")
    except OSError as exc:  # an object store that cannot be reached (the lake check says why)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check("circuit breaker", CheckStatus.WARN, f"state unreadable: {first}")
    if status.is_open:
        return Check(
            "circuit breaker",
            CheckStatus.WARN,
            f"OPEN since {status.since:%Y-%m-%d %H:%M} UTC: {status.reason} (entries halted, "
            "exits allowed)",
            "find out why, then `tradelib breaker reset`",
        )
    return Check("circuit breaker", CheckStatus.PASS, "closed: entries allowed")


def checks_named(report: PreflightReport, prefix: str) -> Iterator[Check]:
    """The checks whose name starts with ``prefix`` (e.g. ``"quotes"``)."""
    return (c for c in report.checks if c.name.startswith(prefix))
