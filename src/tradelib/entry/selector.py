"""StrategySelector: entry candidates per underlying, filtered, scored and ranked (SPEC part 8).

Per expiry inside the DTE window: the skew-aware short strikes (one put, one
call, from ``SmartStrikeSelector``) and their wings (the nearest listed
strike at or beyond the underlying's wing width) make the legs of every
enabled strategy. A candidate survives when each leg is liquid (bid/ask
within the absolute or the relative width limit, no zero bid on a short leg)
and its mid credit reaches the minimum; then probability of profit and
expected value (``tradelib.entry.probability``) are computed for all
survivors at once. A candidate must then have an edge: expected value at mid
minus modelled slippage and round-trip commissions (``tradelib.entry.edge``)
above ``strategies.min_net_edge``. Survivors are ranked by net expected value
per unit of risk capital (``strategies.ranking: ev_per_risk``; or by net
expected value, ``ev``) x strategy weight, and finally a candidate that
near-duplicates open strategies (``select(..., open_strategies=)``) or
candidates ranked above it more than ``strategies.max_near_duplicates`` times
is left out. Whatever is left out becomes a ``Rejection`` with its reason and
its numbers.

Pure: chains in, a ``Selection`` out; no clock (days to expiry count from each
chain's own timestamp), no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from tradelib.config import StrategiesConfig, TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    MarketRegime,
    Position,
    Right,
    Strategy,
    StrategyType,
    payoff_profile,
)
from tradelib.entry.candidates import LEG_PLANS, Candidate, Rejection, Selection
from tradelib.entry.chain import ExpiryChain, FloatArray, OptionChain
from tradelib.entry.edge import EntryCosts, StrategyShape, strikes_apart
from tradelib.entry.probability import expected_value, probability_of_profit
from tradelib.entry.strikes import SkewAwareStrikes, SkewReading, SmartStrikeSelector
from tradelib.risk.margin import margin_requirement

RegimeWeights = Mapping[str, Mapping[str, float]]  # regime -> strategy -> weight
_TOL = 1e-9  # cents arithmetic in floats: 0.1 must pass a 0.10 limit


@dataclass(frozen=True, slots=True)
class _Pending:
    """A candidate that passed the filters and waits for the batched PoP / EV."""

    underlying: str
    strategy: StrategyType
    exp: ExpiryChain
    spot: float
    dte: int
    legs: tuple[Leg, ...]
    rows: tuple[int, ...]
    ratios: tuple[int, ...]
    credit_mid: float
    credit_natural: float
    max_profit: float
    max_loss: float
    breakevens: tuple[float, ...]
    model_vol: float
    skew: SkewReading


def atm_vol(exp: ExpiryChain) -> float:
    """IV at the forward, interpolated in strike on each side and averaged (NaN without IV)."""
    vols: list[float] = []
    for side in (exp.puts, exp.calls):
        k, iv = exp.strike[side], exp.iv[side]
        ok = np.isfinite(iv) & (iv > 0)
        if ok.sum() >= 2 and k[ok][0] <= exp.forward <= k[ok][-1]:
            vols.append(float(np.interp(exp.forward, k[ok], iv[ok])))
    return float(np.mean(vols)) if vols else math.nan


def _wing_rows(
    exp: ExpiryChain, strikes: SkewAwareStrikes, width: float | None
) -> dict[str, int | str]:
    """Row of each leg role, or the reason it has none."""
    roles: dict[str, int | str] = {}
    for role, pick, right in (
        ("short_put", strikes.put, Right.PUT),
        ("short_call", strikes.call, Right.CALL),
    ):
        roles[role] = pick.row if pick is not None else f"no {right.name.lower()} with a delta"
    put_k, call_k = exp.strike[exp.puts], exp.strike[exp.calls]
    if width is None:
        roles["long_put"] = roles["long_call"] = "no wing width configured"
        return roles
    if strikes.put is None:
        roles["long_put"] = roles["short_put"]
    else:
        want = strikes.put.strike - width
        i = int(np.searchsorted(put_k, want + _TOL, side="right")) - 1
        roles["long_put"] = (
            exp.puts.start + i if i >= 0 else f"no listed put at or below {want:g} (wing {width:g})"
        )
    if strikes.call is None:
        roles["long_call"] = roles["short_call"]
    else:
        want = strikes.call.strike + width
        j = int(np.searchsorted(call_k, want - _TOL, side="left"))
        roles["long_call"] = (
            exp.calls.start + j
            if j < call_k.shape[0]
            else f"no listed call at or above {want:g} (wing {width:g})"
        )
    return roles


class StrategySelector:
    """Builds, filters, scores and ranks entry candidates from option chains."""

    def __init__(
        self, strategies: StrategiesConfig, strike_selector: SmartStrikeSelector | None = None
    ) -> None:
        self.cfg = strategies
        self.strikes = strike_selector or SmartStrikeSelector(
            strategies.skew, strategies.target_delta
        )
        self.enabled = tuple(StrategyType(s) for s in strategies.enabled)
        self.costs = EntryCosts.from_config(strategies)

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> StrategySelector:
        return cls(cfg.strategies)

    # --- weights -------------------------------------------------------------------------
    @staticmethod
    def resolve_weight(
        strategy: StrategyType,
        regime: MarketRegime | None,
        weights: Mapping[str, float] | None,
        regime_weights: RegimeWeights | None,
    ) -> tuple[float, str]:
        """(weight, source): the regime's weight, else the strategy's, else 1.0."""
        if regime is not None and regime_weights:
            per_regime = regime_weights.get(regime.value)
            if per_regime is not None and strategy.value in per_regime:
                return float(per_regime[strategy.value]), "regime"
        if weights and strategy.value in weights:
            return float(weights[strategy.value]), "strategy"
        return 1.0, "default"

    # --- selection -------------------------------------------------------------------------
    def select(
        self,
        chains: Iterable[OptionChain],
        *,
        regime: MarketRegime | None = None,
        weights: Mapping[str, float] | None = None,
        regime_weights: RegimeWeights | None = None,
        open_strategies: Iterable[Strategy] = (),
    ) -> Selection:
        """Candidates over every chain, best first, with every rejection and its reason.

        ``weights`` (strategy -> weight, e.g. from variance analysis) and
        ``regime_weights`` (regime -> strategy -> weight, used first for
        ``regime``) scale the ranking; a missing weight is 1.0. The weights
        arrive already resolved (config overrides included): they are used
        as given. ``open_strategies`` (the book, as ``tradelib.domain.Strategy``)
        count against the near-duplicate cap.
        """
        resolved = {
            s: self.resolve_weight(s, regime, weights, regime_weights) for s in self.enabled
        }
        bad = {s.value: w for s, (w, _) in resolved.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"strategy weights must be finite and >= 0, got {bad}")
        pending: list[_Pending] = []
        rejected: list[Rejection] = []
        for chain in chains:
            self._chain_candidates(chain, resolved, pending, rejected)
        scored = self._score(pending, regime, resolved)
        ranked = [c for c in scored if isinstance(c, Candidate)]
        rejected.extend(r for r in scored if isinstance(r, Rejection))
        ranked.sort(key=lambda c: (-c.score, c.underlying, c.expiry, c.strategy.value))
        grids = {(p.underlying, p.exp.expiry): p.exp for p in pending}
        kept = self._without_near_duplicates(ranked, open_strategies, grids, rejected)
        return Selection(tuple(kept), tuple(rejected))

    def _without_near_duplicates(
        self,
        ranked: list[Candidate],
        open_strategies: Iterable[Strategy],
        grids: Mapping[tuple[str, date], ExpiryChain],
        rejected: list[Rejection],
    ) -> list[Candidate]:
        """Drop (as rejections) candidates that crowd a cluster of near-identical strategies."""
        cfg = self.cfg
        held = [StrategyShape.of_strategy(s) for s in open_strategies]
        kept: list[Candidate] = []
        for c in ranked:
            shape = StrategyShape.of(
                c.underlying, c.strategy, c.legs, f"ranked #{len(kept) + 1} this run"
            )
            exp = grids.get((c.underlying, c.expiry))
            listed = (
                {Right.PUT: exp.strike[exp.puts], Right.CALL: exp.strike[exp.calls]}
                if exp is not None
                else {}
            )
            # The candidate itself, entered by an earlier run, is not its own duplicate: the
            # entry job reports it as already entered.
            near = [
                (other, apart)
                for other in held
                if not other.is_entry_of(shape)
                and (apart := strikes_apart(shape, other, listed, cfg.near_duplicate_days))
                is not None
                and apart <= cfg.near_duplicate_strikes
            ]
            if len(near) > cfg.max_near_duplicates:
                others = ", ".join(
                    f"{o.label} ({o.describe_shorts()}, {apart} strike(s) apart)"
                    for o, apart in near
                )
                rejected.append(
                    Rejection(
                        c.underlying,
                        c.strategy,
                        c.expiry,
                        f"near-duplicate: short {shape.describe_shorts()} is within "
                        f"{cfg.near_duplicate_strikes} listed strikes of {len(near)} "
                        f"{c.strategy.value} on {c.underlying} expiring within "
                        f"{cfg.near_duplicate_days} days of {c.expiry} already open or "
                        f"ranked above (max {cfg.max_near_duplicates}): {others}",
                        c.legs,
                        check="max_near_duplicates",
                        value=float(len(near)),
                        limit=float(cfg.max_near_duplicates),
                    )
                )
                continue
            kept.append(c)
            held.append(shape)
        return kept

    def _chain_candidates(
        self,
        chain: OptionChain,
        weights: Mapping[StrategyType, tuple[float, str]],
        pending: list[_Pending],
        rejected: list[Rejection],
    ) -> None:
        cfg = self.cfg
        u = chain.underlying
        window = [e for e in chain.expiries if cfg.dte_min <= chain.dte(e.expiry) <= cfg.dte_max]
        if not window:
            listed = ", ".join(str(chain.dte(e.expiry)) for e in chain.expiries) or "none"
            rejected.append(
                Rejection(
                    u,
                    None,
                    None,
                    f"no expiry within DTE {cfg.dte_min}-{cfg.dte_max} (listed: {listed})",
                )
            )
            return
        width = cfg.wing_widths.get(u)
        active = [s for s in self.enabled if weights[s][0] > 0]
        for s in self.enabled:
            if weights[s][0] == 0:
                rejected.append(Rejection(u, s, None, f"weight 0 ({weights[s][1]}): strategy off"))
        for exp in window:
            picks = self.strikes.select_strikes(exp)
            roles = _wing_rows(exp, picks, width)
            vol = atm_vol(exp)
            for strategy in active:
                self._build(chain, exp, strategy, picks, roles, vol, pending, rejected)

    def _build(
        self,
        chain: OptionChain,
        exp: ExpiryChain,
        strategy: StrategyType,
        picks: SkewAwareStrikes,
        roles: Mapping[str, int | str],
        vol: float,
        pending: list[_Pending],
        rejected: list[Rejection],
    ) -> None:
        u, cfg = chain.underlying, self.cfg

        def reject(reason: str, legs: tuple[Leg, ...] = ()) -> None:
            rejected.append(Rejection(u, strategy, exp.expiry, reason, legs))

        plan = LEG_PLANS[strategy]
        missing = [f"{role}: {roles[role]}" for role, _ in plan if isinstance(roles[role], str)]
        if missing:
            reject("; ".join(missing))
            return
        rows = tuple(int(roles[role]) for role, _ in plan)
        ratios = tuple(ratio for _, ratio in plan)
        legs = tuple(
            Leg(
                Contract.option(
                    u,
                    exp.expiry,
                    float(exp.strike[r]),
                    Right.CALL if exp.is_call[r] else Right.PUT,
                    multiplier=exp.multiplier,
                ),
                ratio,
            )
            for r, ratio in zip(rows, ratios, strict=True)
        )
        if strategy is StrategyType.IRON_CONDOR and exp.strike[rows[1]] >= exp.strike[rows[2]]:
            reject(
                f"short put {exp.strike[rows[1]]:g} not below short call {exp.strike[rows[2]]:g}",
                legs,
            )
            return
        problem = self._liquidity_problem(exp, rows, ratios)
        if problem:
            reject(problem, legs)
            return
        idx, signs = np.asarray(rows), np.asarray(ratios, dtype=np.float64)
        credit_mid = float(-(signs * exp.mid[idx]).sum())
        natural_px = np.where(signs > 0, exp.ask[idx], exp.bid[idx])
        credit_natural = float(-(signs * natural_px).sum())
        if credit_mid + _TOL < cfg.min_credit:
            reject(f"credit {credit_mid:.2f} at mid < minimum {cfg.min_credit:.2f}", legs)
            return
        if not math.isfinite(vol):
            reject("no ATM implied vol for probability of profit / expected value", legs)
            return
        profile = payoff_profile(legs, credit_mid)
        pending.append(
            _Pending(
                u,
                strategy,
                exp,
                chain.spot,
                chain.dte(exp.expiry),
                legs,
                rows,
                ratios,
                credit_mid,
                credit_natural,
                profile.max_profit,
                profile.max_loss,
                profile.breakevens,
                vol,
                picks.skew,
            )
        )

    def _liquidity_problem(
        self, exp: ExpiryChain, rows: tuple[int, ...], ratios: tuple[int, ...]
    ) -> str:
        """Why the legs are not tradable, or "" when every leg passes."""
        cfg = self.cfg
        problems: list[str] = []
        for r, ratio in zip(rows, ratios, strict=True):
            name = f"{exp.strike[r]:g}{'C' if exp.is_call[r] else 'P'}"
            bid, ask, mid = float(exp.bid[r]), float(exp.ask[r]), float(exp.mid[r])
            if not math.isfinite(mid):
                problems.append(f"{name}: no valid two-sided quote (bid {bid:g}, ask {ask:g})")
                continue
            if ratio < 0 and bid <= 0:
                problems.append(f"{name}: short leg bids {bid:.2f}")
                continue
            width = ask - bid
            if (
                width > cfg.max_bid_ask_width + _TOL
                and width > cfg.max_bid_ask_width_pct * mid + _TOL
            ):
                problems.append(
                    f"{name}: bid/ask {width:.2f} wider than {cfg.max_bid_ask_width:.2f} "
                    f"and {cfg.max_bid_ask_width_pct:.0%} of mid {mid:.2f}"
                )
        return "illiquid: " + "; ".join(problems) if problems else ""

    def _score(
        self,
        pending: list[_Pending],
        regime: MarketRegime | None,
        weights: Mapping[StrategyType, tuple[float, str]],
    ) -> list[Candidate | Rejection]:
        """PoP and EV of every pending candidate in one vectorized pass, then each one's net
        edge: a Candidate, or a Rejection when there is none."""
        if not pending:
            return []
        ev, pop = _model_outcomes(pending)
        used = tuple(sorted((s.value, w) for s, (w, _) in weights.items()))
        out: list[Candidate | Rejection] = []
        for i, p in enumerate(pending):
            weight = weights[p.strategy]
            e = float(ev[i])
            mult = p.exp.multiplier
            slip = self.costs.slippage(p.credit_mid, p.credit_natural)
            fees = self.costs.commissions(p.legs) / mult
            net = e - slip - fees
            if not net * mult > self.cfg.min_net_edge + _TOL:
                out.append(self._no_edge(p, e, slip, fees, net))
                continue
            edge = _Edge(e, float(pop[i]), slip, fees, net)
            out.append(self._candidate(p, edge, regime, weight, used))
        return out

    def _no_edge(self, p: _Pending, e: float, slip: float, fees: float, net: float) -> Rejection:
        """The rejection of a candidate whose net edge does not reach the minimum."""
        mult = p.exp.multiplier
        half = p.credit_mid - p.credit_natural
        return Rejection(
            p.underlying,
            p.strategy,
            p.exp.expiry,
            f"no edge: EV ${e * mult:+.2f} at mid - slippage ${slip * mult:.2f} "
            f"({self.costs.slippage_fraction:.0%} of ${half * mult:.2f} mid to "
            f"natural) - commissions ${fees * mult:.2f} (open and close) = net "
            f"${net * mult:+.2f} <= minimum ${self.cfg.min_net_edge:.2f} per unit",
            p.legs,
            check="min_net_edge",
            value=round(net * mult, 2),
            limit=self.cfg.min_net_edge,
        )

    def _candidate(
        self,
        p: _Pending,
        edge: _Edge,
        regime: MarketRegime | None,
        weight: tuple[float, str],
        used: tuple[tuple[str, float], ...],
    ) -> Candidate:
        """A candidate with an edge, scored: its ranking value x its strategy's weight."""
        w, source = weight
        risk = _risk_capital(p)
        per_risk = edge.net / risk if risk > 0 else math.nan
        value = per_risk if self.cfg.ranking == "ev_per_risk" else edge.net
        return Candidate(
            underlying=p.underlying,
            strategy=p.strategy,
            expiry=p.exp.expiry,
            dte=p.dte,
            legs=p.legs,
            credit_mid=p.credit_mid,
            credit_natural=p.credit_natural,
            max_profit=p.max_profit,
            max_loss=p.max_loss,
            breakevens=p.breakevens,
            probability_of_profit=edge.pop,
            expected_value=edge.ev,
            slippage=edge.slippage,
            commissions=edge.commissions,
            net_expected_value=edge.net,
            risk_capital=risk,
            ev_per_risk=per_risk,
            model_vol=p.model_vol,
            forward=p.exp.forward,
            short_deltas=tuple(
                float(p.exp.delta[r]) for r, q in zip(p.rows, p.ratios, strict=True) if q < 0
            ),
            skew=p.skew,
            regime=regime,
            weight=w,
            weight_source=source,
            weights=used,
            score=value * w if value >= 0 else value / w,
            multiplier=p.exp.multiplier,
        )


@dataclass(frozen=True, slots=True)
class _Edge:
    """One candidate's model outcome and costs, per share per unit."""

    ev: float  # expected value at mid
    pop: float  # probability of profit
    slippage: float
    commissions: float
    net: float  # ev - slippage - commissions


def _model_outcomes(pending: list[_Pending]) -> tuple[FloatArray, FloatArray]:
    """(expected value, probability of profit) of every pending candidate, in one pass.

    The candidates' legs and breakevens are padded into rectangular arrays
    (unused legs: ratio 0; unused breakevens: NaN).
    """
    n = len(pending)
    m = max(len(p.rows) for p in pending)
    nb = max(1, max(len(p.breakevens) for p in pending))
    strikes: FloatArray = np.ones((n, m))
    is_call = np.zeros((n, m), dtype=np.bool_)
    ratios: FloatArray = np.zeros((n, m))
    breakevens: FloatArray = np.full((n, nb), np.nan)
    for i, p in enumerate(pending):
        idx = np.asarray(p.rows)
        strikes[i, : idx.size] = p.exp.strike[idx]
        is_call[i, : idx.size] = p.exp.is_call[idx]
        ratios[i, : idx.size] = p.ratios
        breakevens[i, : len(p.breakevens)] = p.breakevens
    credit = np.array([p.credit_mid for p in pending])
    forward = np.array([p.exp.forward for p in pending])
    vol = np.array([p.model_vol for p in pending])
    years = np.array([p.exp.years for p in pending])
    ev = expected_value(strikes, is_call, ratios, credit, forward, vol, years)
    pop = probability_of_profit(strikes, is_call, ratios, credit, breakevens, forward, vol, years)
    return ev, pop


def _risk_capital(p: _Pending) -> float:
    """Per share per unit: the max loss, or the Reg-T margin when that is smaller (naked shorts)."""
    mult = p.exp.multiplier
    positions = [
        Position(
            leg.contract,
            float(leg.ratio),
            float(p.exp.mid[r]) * mult,
            float(p.exp.mid[r]),
            float(leg.ratio * p.exp.mid[r] * mult),
        )
        for leg, r in zip(p.legs, p.rows, strict=True)
    ]
    try:
        margin = margin_requirement(positions, {p.underlying: p.spot}).total / mult
    except ValueError:
        margin = math.inf
    risk = min(p.max_loss, margin)
    return risk if math.isfinite(risk) else math.nan
