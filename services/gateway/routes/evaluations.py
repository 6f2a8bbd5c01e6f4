"""POST /v1/admin/evaluations: the scheduled evaluation (the chart's CronJob calls it through `ragmesh evaluate`):
the served adapter and the canary on the tenant's verified labels; a regressing canary is rolled back."""

from fastapi import APIRouter

from services.gateway.deps import AdapterRegistryDep, AdminCaller, RetrainingDep
from services.gateway.learning.evaluation import ScheduledEvaluation
from services.gateway.learning_models import EvaluationReport
from services.gateway.routes import problems

router = APIRouter(prefix="/v1/admin/evaluations", tags=["admin"], responses=problems(400, 401, 403, 422, 503))


@router.post("", response_model=EvaluationReport)
async def evaluate(caller: AdminCaller, retraining: RetrainingDep, adapters: AdapterRegistryDep) -> EvaluationReport:
    """Ask the tenant's verified labels (its golden set) through the adapter served to everyone and through the
    canary; a canary more than 2% below on nDCG@10 is rolled back, the figures kept as its reason."""
    return await ScheduledEvaluation(retraining, adapters).run(caller.tenant)
