"""What one request spends: each of its model calls (the answer, LLM self-query, LLM compression, a verdict) is
reserved against the caller's budgets at its worst case before it runs and settled at its real cost after it
(budgets.py); the request's total is written once to the usage ledger (usage.py) and reported in the response.

A call the answer cannot do without is refused when a budget is spent (BudgetExceeded: 429). An optional call
(self-query's or compression's LLM) is skipped instead, and so is it once a budget is 90% spent: the parser or the
similarity scores stand in, and the answer itself is tightened (a shorter answer, the cheaper model).
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter

from ragmesh.generator.v1 import generator_pb2
from services.gateway.budgets import MICRO, BudgetExceeded, Budgets, Prices, Reservation
from services.gateway.identity import Principal
from services.gateway.metrics import observe_model_use
from services.gateway.models import Usage
from services.gateway.usage import UsageLedger
from services.records.batched import BatchedWrites
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)
TIGHT = 0.9
LEDGER_FAILURES = Counter("ragmesh_gateway_usage_ledger_failures_total", "Requests the usage ledger could not record.")


def usage_of(usage: generator_pb2.Usage) -> Usage:
    """One model call's usage, as the generator reports it."""
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        model_calls=1,
    )


def tokens_at_most(*texts: str) -> int:
    """A bound on the tokens a prompt made of `texts` can take, before the model's tokenizer has seen it: two
    characters a token (English runs about four), plus a margin for the template around them."""
    return sum(len(text) for text in texts) // 2 + 64


@dataclass
class Charge:
    """A reserved call, settled at most once."""

    kind: str
    reservation: Reservation
    settled: bool = False


@dataclass
class Tab:
    """One request's model calls and what they cost."""

    caller: Principal
    route: str
    budgets: Budgets
    prices: Callable[[], Awaitable[Prices]]
    usage: Usage = field(default_factory=Usage)
    cost_micro_usd: int = 0
    # A budget in scope was 90% spent when a call was reserved: optional calls are skipped, answers kept short.
    tight: bool = False
    cached: bool = False

    async def reserve(self, kind: str, prompt_tokens: int, max_tokens: int) -> Charge:
        """Reserve a call the request cannot do without; BudgetExceeded when a budget cannot take its worst case."""
        worst = self.budgets.worst_case_usd(prompt_tokens, max_tokens, await self.prices())
        reservation = await self.budgets.reserve(self.caller, worst)
        self.tight = self.tight or reservation.used >= TIGHT
        return Charge(kind, reservation)

    async def reserve_optional(self, kind: str, prompt_tokens: int, max_tokens: int) -> Charge | None:
        """Reserve a call the request can do without, or None (nothing charged) when a budget is spent or
        nearly so: the caller falls back to its model-free way."""
        if self.tight:
            return None
        try:
            charge = await self.reserve(kind, prompt_tokens, max_tokens)
        except (BudgetExceeded, Unavailable) as exc:
            log.info("%s skipped: %s", kind, exc)
            return None
        if self.tight:
            await self.settle(charge, None)
            log.info("%s skipped: a budget is %.0f%% spent", kind, charge.reservation.used * 100)
            return None
        return charge

    async def settle(self, charge: Charge, usage: Usage | None, model: str = "") -> None:
        """Charge the call's real cost instead of its worst case (nothing when it failed before any usage), and
        count its tokens and cost under `model`."""
        if charge.settled:
            return
        charge.settled = True
        cost = self.budgets.actual_usd(usage.cost_usd, usage.prompt_tokens, usage.completion_tokens) if usage else 0.0
        await self.budgets.settle(charge.reservation, cost)
        if usage is None:
            return
        observe_model_use(model, usage.prompt_tokens, usage.completion_tokens, cost)
        self.cost_micro_usd += round(cost * MICRO)
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens + usage.completion_tokens,
            cost_usd=self.cost_micro_usd / MICRO,
            model_calls=self.usage.model_calls + 1,
        )


class Spending:
    """Opens a tab per request and writes each closed tab to the ledger after the response (records/batched.py:
    many requests per commit under load). Reports of usage wait for the lines not yet written (`flush`), and so does
    the replica's shutdown."""

    def __init__(self, budgets: Budgets, ledger: UsageLedger, prices: Callable[[], Awaitable[Prices]]) -> None:
        self.budgets = budgets
        self.ledger = ledger
        self._prices = prices
        self._lines = BatchedWrites(ledger.record, "usage ledger", LEDGER_FAILURES)

    def tab(self, caller: Principal, route: str) -> Tab:
        return Tab(caller, route, self.budgets, self._prices)

    async def close(self, tab: Tab) -> None:
        """The request's line in the ledger, written in the background."""
        self._lines.add(self.ledger.line(tab.caller, tab.route, tab.usage, tab.cost_micro_usd, tab.cached))

    async def flush(self) -> None:
        """Wait until every line closed so far is written (or its loss logged)."""
        await self._lines.flush()
