"""The semantic cache's default threshold is the one its labelled pairs choose, and it holds on the pairs that did
not choose it."""

from eval.semantic_cache import evaluate
from services.gateway.config import GatewaySettings


async def test_the_configured_threshold_is_the_chosen_one_and_keeps_false_hits_under_one_percent():
    report = await evaluate()
    assert report["chosen_threshold"] == GatewaySettings().semantic_cache_threshold
    assert report["tune"]["false_hits"] < 0.01 and report["test"]["false_hits"] < 0.01
    # The look-alikes are hard on purpose: the closest differ in one word and score near the threshold.
    assert report["closest_lookalikes"][0]["similarity"] > 0.95
