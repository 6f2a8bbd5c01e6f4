"""The scheduled evaluation (POST /v1/admin/evaluations; the chart runs it as a CronJob): the tenant's verified labels
are its golden set; the adapter served to everyone and the canary each answer them through dense search, and a
canary more than `max_drop` (2%, relative) below the served version's nDCG@10 is rolled back with the figures as
its reason. Without a canary it reports the served version's score, for the record."""

import logging
from datetime import UTC, datetime

from services.gateway.learning.adapters import Adapters, adapter_matrix
from services.gateway.learning.gate import decide
from services.gateway.learning.retraining import Retraining
from services.gateway.learning_models import EvaluationReport

log = logging.getLogger(__name__)


class ScheduledEvaluation:
    """Runs the evaluation for any tenant."""

    def __init__(self, retraining: Retraining, adapters: Adapters, least_labels: int = 5, max_drop: float = 0.02):
        self._retraining = retraining
        self._adapters = adapters
        self._least = least_labels
        self._max_drop = max_drop

    async def run(self, tenant: str) -> EvaluationReport:
        examples = await self._retraining.labelled_examples(tenant)
        serving, canary = await self._adapters.served_rows(tenant)
        report = EvaluationReport(
            at=datetime.now(UTC).isoformat(),
            labelled=len(examples),
            served_version=serving.version if serving else 0,
            canary_version=canary.version if canary else None,
        )
        if len(examples) < self._least:
            report.note = f"{len(examples)} verified labels; the evaluation needs {self._least}"
            return report
        questions = await self._retraining.embed_questions([e.question for e in examples])
        wanted = [e.relevant_documents for e in examples]
        report.ndcg_served = round(await self._retraining.ndcg(tenant, adapter_matrix(serving), questions, wanted), 4)
        if canary is None:
            report.note = "no canary: the served version's score, for the record"
            return report
        report.ndcg_canary = round(await self._retraining.ndcg(tenant, adapter_matrix(canary), questions, wanted), 4)
        decision = decide({"verified labels": (report.ndcg_served, report.ndcg_canary)}, self._max_drop)
        if not decision.passed:
            report.reasons = decision.reasons
            reason = "rolled back by the scheduled evaluation: " + "; ".join(decision.reasons)
            report.rolled_back = await self._adapters.retire_canary(tenant, canary.version, reason) is not None
        return report
