"""Follow-ups resolved by rule: a question that leans on earlier turns ("and the second one?", "how long do they
last?") becomes one that stands alone, before retrieval. Pure functions; the conversation module decides when to
ask the LLM instead. Rules, because the local model is too small to rewrite reliably and a rule never invents: an
ordinal is replaced by the item of the previous answer's list it names, and any other follow-up carries the
previous (already standalone) question as its context."""

import re
from dataclasses import dataclass
from typing import Literal

# Words that point back at something said before. "that" and "which" are left out: mostly relative pronouns.
_POINTERS = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|these|those|he|she|him|her|his|one|ones|other|others|former|"
    r"latter|same|there|also|too|else|again|instead)\b",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^\s*(and|but|also|so|then|or|what about|how about)\b[\s,]*", re.IGNORECASE)
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "last": -1}
_ORDINAL = re.compile(
    r"\bthe\s+(?P<word>first|second|third|fourth|fifth|sixth|last|(?P<digit>[1-9])(?:st|nd|rd|th))"
    r"(?:\s+(?:one|item|step|option|point|thing|of them|source|document|passage))?\b"
    r"|\b(?:number|no\.|#)\s*(?P<number>[1-9])\b",
    re.IGNORECASE,
)
_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+(?P<text>\S.*?)\s*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_STOP = frozenset(
    "a an the and or but of to in on for with at by from is are was were be been do does did how what when where why "
    "who which whom whose can could should would will may might must about into over under than then so not no yes "
    "i you we me my your our please tell more".split()
)


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    text: str


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def is_follow_up(question: str) -> bool:
    """Whether the question leans on what came before: it opens with "and"/"what about", names an ordinal, points
    back with a pronoun, or says too little to stand alone (under three content words)."""
    return bool(
        _LEADING.match(question)
        or _ORDINAL.search(question)
        or _POINTERS.search(question)
        or len(content_words(question)) < 3
    )


def list_items(answer: str) -> list[str]:
    """The numbered or bulleted items of an answer, in order."""
    return [m.group("text") for line in answer.splitlines() if (m := _ITEM.match(line))]


def _ordinal_item(question: str, answer: str) -> tuple[str, str] | None:
    """(the ordinal phrase, the item it names) when the question names an item of the previous answer's list."""
    found = _ORDINAL.search(question)
    items = list_items(answer)
    if not found or not items:
        return None
    if found.group("number") or found.group("digit"):
        place = int(found.group("number") or found.group("digit"))
    else:
        place = _ORDINAL_WORDS[found.group("word").lower()]
    if place == -1:
        return found.group(0), items[-1]
    return (found.group(0), items[place - 1]) if place <= len(items) else None


def resolve(question: str, previous: str, answer: str) -> str:
    """`question`, a follow-up to the standalone `previous` question that `answer` answered, made standalone."""
    named = _ordinal_item(question, answer)
    if named is not None:
        phrase, item = named
        question = question.replace(phrase, f'"{item}"', 1)
    body = _LEADING.sub("", question).strip() or question.strip()
    body = body[0].upper() + body[1:]
    return f"{body} (in the context of: {previous.strip()})"


def standalone_by_rules(question: str, turns: list[Turn]) -> str | None:
    """The question made standalone from the turns before it (each earlier user turn resolved the same way, so a
    chain of follow-ups keeps its topic); None when it already stands alone or nothing came before."""
    previous, answer = "", ""
    for turn in turns:
        if turn.role == "assistant":
            answer = turn.text
        elif turn.text.strip():
            text = turn.text.strip()
            previous = resolve(text, _root(previous), answer) if previous and is_follow_up(text) else text
            answer = ""
    if not previous or not is_follow_up(question):
        return None
    return resolve(question, _root(previous), answer)


def _root(question: str) -> str:
    """A resolved question's own words without the context it carries: chains carry one context, not a nest."""
    head, sep, context = question.rpartition(" (in the context of: ")
    return f"{head} {context[:-1]}" if sep and context.endswith(")") else question
