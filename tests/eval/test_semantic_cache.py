"""The semantic cache's default threshold is never looser than its labelled pairs allow, and it keeps false hits
under 1% on every pair.

With PyTorch's exact vectors the tuning half chose 0.98 and the held-out half agreed. With the int8 embedder (the
default since issue 15) the tuning half alone would allow 0.97, which lets 2% of the held-out look-alikes through;
the configuration keeps 0.98, which serves none of them (eval/results/semantic-cache.md)."""

from eval.semantic_cache import evaluate
from services.gateway.config import GatewaySettings


async def test_the_configured_threshold_is_at_least_the_chosen_one_and_keeps_false_hits_under_one_percent():
    report = await evaluate()
    configured = GatewaySettings().semantic_cache_threshold
    assert configured >= report["chosen_threshold"] and report["tune"]["false_hits"] < 0.01
    assert report["configured_on_all_pairs"]["false_hits"] < 0.01
    # The look-alikes are hard on purpose: the closest differ in one word and score near the threshold.
    assert report["closest_lookalikes"][0]["similarity"] > 0.95
