"""The before/after table and the compression replay: the arithmetic the reported figures rest on."""

import json

from eval.compression import Context, choose, replay
from eval.summary import collect, markdown


def _write(folder, name, report) -> None:
    (folder / name).write_text(json.dumps(report))


def test_each_feature_is_set_against_its_baseline_from_the_same_run(tmp_path):
    def config(ndcg, recall, p50):
        return {"ndcg@10": ndcg, "recall@100": recall, "p50_ms": p50}

    _write(
        tmp_path,
        "retrieval-test.json",
        {
            "queries": 300,
            "configs": {
                "sparse": config(0.60, 0.90, 40.0),
                "dense": config(0.65, 0.92, 50.0),
                "hybrid": config(0.715, 0.95, 60.0),
            },
        },
    )
    _write(
        tmp_path,
        "self-query.json",
        {
            "sets": [
                {"set": "held-out", "method": m, "questions": 20, "accuracy": a}
                | {"applied_filters_breaking_schema": bad, "refused_searches": 0}
                for m, a, bad in (("parser", 0.8, 0), ("parser+llm", 0.9, 1))
            ]
        },
    )
    rows = collect(tmp_path, golden=tmp_path / "absent.json")
    hybrid = rows[0]
    # Against the better of its two parts (dense here), not the weaker one.
    assert hybrid.before.startswith("0.6500 (dense") and hybrid.after == "0.7150" and hybrid.change == "1.10x"
    assert rows[2].change == "1.20x"  # latency 60 ms against dense's 50 ms
    assert not any("MMR" in row.feature for row in rows)  # no MMR figures, no MMR row
    held_out = next(row for row in rows if "held-out" in row.figure)
    assert (held_out.before, held_out.after, held_out.change) == ("80.0% (parser alone)", "90.0%", "+10.0 pts")
    assert next(row for row in rows if row.figure.startswith("invalid filters")).after == "1"
    table = markdown(rows)
    assert table.count("\n| ") == len(rows) + 1 and "`python -m eval.retrieval --split test`" in table


def test_the_replay_applies_the_gateways_own_compression_and_counts_tokens():
    def quote(text, similarity):
        return {"text": text, "char_start": 0, "char_end": len(text), "similarity": similarity}

    context = Context(
        passages=[
            {"document_id": "a", "score": 0.6, "quotes": [quote("A1", 0.6), quote("A2", 0.2), quote("A3", 0.4)]},
            {"document_id": "b", "score": 0.5, "quotes": [quote("B1", 0.45), quote("B2", 0.1)]},
        ],
        gold={("a", "A3"), ("b", "B2")},
        absent=1,
    )
    tokens = {"A1": 10, "A2": 10, "A3": 10, "B1": 10, "B2": 10}
    everything = replay([context], tokens, (-1.0, -1.0))
    assert everything["tokens_saved"] == 0.0 and everything["gold_kept"] == 1.0
    # Threshold 0.3: A2 and B2 go; passage b stays (its best sentence is 0.15 under the best, margin 0.2).
    loose = replay([context], tokens, (0.3, 0.2))
    assert loose["tokens_saved"] == 0.4 and loose["gold_kept"] == 0.5 and loose["gold_absent_before_compression"] == 1
    # Margin 0.1: passage b goes whole.
    tight = replay([context], tokens, (0.3, 0.1))
    assert tight["tokens_saved"] == 0.6 and tight["gold_kept"] == 0.5
    train = {"0.3/0.2": loose | {"gold_kept": 0.95}, "0.3/0.1": tight | {"gold_kept": 0.85}}
    assert choose(train) == (0.3, 0.2)
