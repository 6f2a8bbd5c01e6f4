"""Retrieval quality cannot quietly get worse: the golden SciFact subset, through the real pipeline."""

import pytest

from eval import golden, scifact
from tests.servers import gateway

pytestmark = pytest.mark.skipif(not scifact.available(), reason="SciFact is not in ../shared/eval/scifact")


async def test_hybrid_ndcg_on_the_golden_subset_holds_its_recorded_value(suite):
    expected = golden.recorded()
    async with gateway(suite.gateway_settings(api_keys={"golden-key": "golden"})) as client:
        client.headers["X-API-Key"] = "golden-key"
        scores = await golden.measure(client)
    floor = expected["ndcg@10"] * (1 - expected["tolerance"])
    print(f"golden subset: nDCG@10 {scores['ndcg@10']} (recorded {expected['ndcg@10']}, floor {floor:.4f})")
    assert scores["ndcg@10"] >= floor, f"nDCG@10 fell to {scores['ndcg@10']} from {expected['ndcg@10']}"
