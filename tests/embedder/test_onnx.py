"""The packaged model on ONNX Runtime: the graph derived once from the packaged weights, the same vectors as
PyTorch (fp32), vectors close to them when quantized to int8."""

import numpy as np
import pytest

from services.embedder.config import EmbedderSettings
from services.embedder.model import LocalEmbedder

TEXTS = [
    "When does the ferry leave?",
    "The Tessel ferry leaves the north quay at 07:40 every weekday.",
    "Sourdough starter wants feeding twice a day with rye flour and water.",
    "API keys for the Kestrel platform must be rotated every 45 days by the security team. " * 20,
]


@pytest.fixture(scope="module")
async def torch_vectors():
    embedder = LocalEmbedder(EmbedderSettings(runtime="torch"))
    await embedder.warm_up()
    vectors = await embedder.embed(TEXTS, is_query=False)
    await embedder.close()
    return vectors


@pytest.mark.parametrize(("runtime", "closest"), [("onnx", 0.9999), ("onnx-int8", 0.9)])
async def test_onnx_runtime_embeds_like_pytorch(torch_vectors, tmp_path, runtime, closest):
    embedder = LocalEmbedder(EmbedderSettings(runtime=runtime, onnx_dir=tmp_path))
    await embedder.warm_up()
    vectors = await embedder.embed(TEXTS, is_query=False)
    assert embedder.dimension == 384 and embedder.max_sequence_length == 256
    assert vectors.shape == torch_vectors.shape and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert (vectors * torch_vectors).sum(axis=1).min() >= closest
    # The question is nearest the passage that answers it, as with PyTorch.
    assert int(np.argmax(vectors[1:] @ vectors[0])) == int(np.argmax(torch_vectors[1:] @ torch_vectors[0])) == 0
    await embedder.close()
    # Derived once: a second start loads the graph it left.
    graphs = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.onnx")}
    again = LocalEmbedder(EmbedderSettings(runtime=runtime, onnx_dir=tmp_path))
    await again.warm_up()
    assert {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.onnx")} == graphs and graphs
    await again.close()
