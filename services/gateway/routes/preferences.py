"""/v1/me/preferences: what your own feedback taught the suite about you, and forgetting it."""

from fastapi import APIRouter

from services.gateway.deps import PreferencesDep, QueryCaller, SettingsDep
from services.gateway.learning.interactions import pseudonym
from services.gateway.learning_models import Preferences
from services.gateway.routes import problems

# Every operation may answer 400 (unreadable request), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1/me", tags=["feedback"], responses=problems(400, 401, 403, 422))


@router.get("/preferences", response_model=Preferences)
async def my_preferences(caller: QueryCaller, preferences: PreferencesDep, settings: SettingsDep) -> Preferences:
    """How many passages you judged, and whether your questions lean towards what you liked."""
    return await preferences.describe(caller.tenant, pseudonym(caller, settings.interaction_secret))


@router.delete("/preferences", status_code=204)
async def forget_my_preferences(caller: QueryCaller, preferences: PreferencesDep, settings: SettingsDep) -> None:
    """Forget what your feedback taught (your feedback itself stays on record for reviewers)."""
    await preferences.reset(caller.tenant, pseudonym(caller, settings.interaction_secret))
