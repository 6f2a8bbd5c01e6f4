"""Follow-ups resolved by rule: which questions lean on earlier turns, and what they become."""

import pytest

from services.gateway.query.followups import Turn, is_follow_up, list_items, standalone_by_rules

KESTREL = [Turn("user", "How often must Kestrel API keys be rotated?"), Turn("assistant", "Every 45 days [1].")]
FILTERS = [
    Turn("user", "Which filters does the Osprey pump have?"),
    Turn("assistant", "It has three:\n1. The intake filter [1]\n2. The oil filter [2]\n3. The fuel filter [2]"),
]


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("and the second one?", True),
        ("How long do they keep working?", True),
        ("What about Osprey?", True),
        ("Why?", True),
        ("How often is the Osprey pump's intake filter replaced?", False),
        ("Which team rotates Kestrel API keys that expire?", False),
    ],
)
def test_a_question_leans_on_earlier_turns_when_it_points_back_or_says_too_little(question, leans):
    assert is_follow_up(question) is leans


@pytest.mark.parametrize(
    ("turns", "question", "expected"),
    [
        (
            KESTREL,
            "And how long do old ones keep working?",
            "How long do old ones keep working? (in the context of: How often must Kestrel API keys be rotated?)",
        ),
        (
            FILTERS,
            "and the second one?",
            '"The oil filter [2]"? (in the context of: Which filters does the Osprey pump have?)',
        ),
        (
            FILTERS,
            "How often is the last one changed?",
            'How often is "The fuel filter [2]" changed? (in the context of: Which filters does the Osprey pump have?)',
        ),
        # An ordinal past the list's end is left as said; the topic still carries.
        (FILTERS, "and the fifth one?", "The fifth one? (in the context of: Which filters does the Osprey pump have?)"),
        (KESTREL, "How often is the Osprey pump's intake filter replaced?", None),
        ([], "and the second one?", None),
    ],
)
def test_a_follow_up_becomes_standalone(turns, question, expected):
    assert standalone_by_rules(question, turns) == expected


def test_a_chain_of_follow_ups_keeps_its_topic_without_nesting():
    turns = [*FILTERS, Turn("user", "and the second one?"), Turn("assistant", "It is changed every 600 hours.")]
    resolved = standalone_by_rules("Who makes it?", turns)
    assert resolved.startswith("Who makes it? (in the context of: ") and resolved.count("in the context of") == 1
    assert "oil filter" in resolved and "Osprey pump" in resolved


def test_list_items_are_numbered_or_bulleted_lines():
    assert list_items("Two:\n1. One\n2) Two\n- Three\n* Four\nNot an item") == ["One", "Two", "Three", "Four"]
