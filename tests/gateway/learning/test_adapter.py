"""The query-side adapter and the regression gate, as pure functions: nDCG@10 agrees with trec_eval; training learns
a real mapping; labels split 80/10/10 by question; the gate aborts on a drop past 2% on any set."""

import numpy as np
import pytest
import pytrec_eval

from services.gateway.learning.adapter import Example, adapt, split_labels, train
from services.gateway.learning.gate import decide, ndcg_at_10


@pytest.mark.parametrize(
    ("ranked", "relevant"),
    [(["a", "b", "c"], {"b"}), (["x", "y"], {"z"}), ([f"d{i}" for i in range(20)], {"d0", "d9", "d12"})],
)
def test_ndcg_at_10_agrees_with_trec_eval(ranked, relevant):
    run = {"q": {doc: float(len(ranked) - i) for i, doc in enumerate(ranked)}}
    expected = pytrec_eval.RelevanceEvaluator({"q": dict.fromkeys(relevant, 1)}, {"ndcg_cut.10"}).evaluate(run)
    assert ndcg_at_10(ranked, relevant) == pytest.approx(expected["q"]["ndcg_cut_10"])


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def test_training_learns_a_hidden_mapping_between_questions_and_passages():
    rng = np.random.default_rng(1)
    dimension, count = 32, 400
    passages = _unit(rng.normal(size=(count, dimension)))
    rotation = np.linalg.qr(rng.normal(size=(dimension, dimension)))[0]
    # Questions are their passages seen through a rotation: plain cosine barely finds them.
    questions = _unit(passages @ rotation.T + 0.1 * rng.normal(size=(count, dimension)))
    examples = [Example(questions[i], passages[i], passages[[(i + 1) % count]]) for i in range(count)]
    trained = train(examples[:300], examples[300:350], epochs=300, learning_rate=2e-2, l2=1e-5, patience=20)
    held = range(350, 400)

    def hits(matrix):
        adapted = np.asarray([adapt(matrix, questions[i].tolist()) for i in held])
        return int((np.argmax(adapted @ passages.T, axis=1) == np.asarray(list(held))).sum())

    assert trained.validation_loss < trained.identity_validation_loss
    assert hits(None) <= 5 and hits(trained.matrix) >= 45


def test_labels_split_80_10_10_by_question_and_the_same_way_for_the_same_seed():
    relevant = {f"q{i}": {f"p{i % 30}"} for i in range(200)} | {f"r{i}": {f"solo{i}"} for i in range(50)}
    learned, validation, test = split_labels(relevant, seed=3)
    assert (len(learned), len(validation), len(test)) == (200, 25, 25)
    assert sorted(learned + validation + test) == sorted(relevant)
    assert split_labels(relevant, seed=3) == (learned, validation, test)
    assert split_labels(relevant, seed=4) != (learned, validation, test)


def test_the_gate_aborts_past_a_two_percent_drop_on_any_set():
    assert decide({"golden": (0.70, 0.69), "previous test split": (0.60, 0.65)}).passed
    refused = decide({"golden": (0.70, 0.68), "previous test split": (0.60, 0.65)})
    assert not refused.passed and refused.reasons == ["golden: nDCG@10 0.6800 against 0.7000 served (-2.9%)"]
