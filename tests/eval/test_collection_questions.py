"""The collection-question parser on its labelled sets: every plan exactly right, no plan read from a question
about the documents' contents."""

import pytest

from eval.collection_questions import score


@pytest.mark.parametrize("name", ["questions.jsonl", "held_out.jsonl"])
def test_every_labelled_question_reads_as_its_plan(name):
    report = score(name)
    assert report["wrong"] == [] and report["content_questions_given_a_plan"] == 0
    assert report["plans_fully_right"] == report["questions"] >= 12
