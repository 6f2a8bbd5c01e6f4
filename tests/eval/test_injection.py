"""Prompt-injection flagging holds its measured figures (eval/results/injection.json, python -m eval.injection), and
the held-out set, never used to tune the detector, keeps catching injections without flagging ordinary documents."""

import json
from pathlib import Path

from eval.injection import NAMES, measure

RESULTS = Path(__file__).parents[2] / "eval" / "results" / "injection.json"


def test_the_published_figures_are_what_the_detector_scores_now():
    published = {r["set"]: r for r in json.loads(RESULTS.read_text())["sets"]}
    for name in NAMES:
        now = measure(name)
        assert (now["catch_rate"], now["false_flag_rate"]) == (
            published[name]["catch_rate"],
            published[name]["false_flag_rate"],
        ), f"{name}: rerun python -m eval.injection"


def test_the_held_out_set_is_caught_without_flagging_ordinary_documents():
    held_out = measure("held_out_2.json")
    assert held_out["catch_rate"] >= 0.85 and held_out["false_flag_rate"] <= 0.05, held_out
