"""Prompt-leak protection: a canary hidden in the instructions, and the instructions themselves. An answer that
carries the canary or reproduces a long run of the instructions is replaced by a refusal and counted; a streamed
one keeps back only the tail that could still grow into either (the longest end of the text that is a piece of
the instructions or the start of the canary), so tokens leave as they come and neither ever leaves the generator.
A tail shorter than a few words is let go: every letter and most short words are pieces of any instruction, and
holding them kept each stream's first token back until the next one came (a model step, ~20 ms here); what leaves
that way is at most a few words of the instructions, never a run long enough to be refused."""

import re
import secrets

from prometheus_client import Counter

LEAKS = Counter("ragmesh_generator_prompt_leaks", "Answers refused because they carried the prompt's canary or text.")
REFUSAL = "I can't share that."
# A run of this many characters of the instructions in an answer counts as reproducing them.
_RUN = 40
# A streamed tail is kept back once it is this long a piece of the instructions, or this long a start of the canary
# (spaces aside): shorter, it tells nothing of either.
_LEAST_RUN = 16
_LEAST_CANARY = 3
_SPACE = re.compile(r"\s+")

# One canary per process: never written anywhere but into prompts, so seeing it in an answer means a leak.
CANARY = f"rm-{secrets.token_hex(6)}"


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


class LeakGuard:
    """Recognises answers that leak the prompt."""

    def __init__(self, instruction: str, canary: str = CANARY) -> None:
        normal = _normal(instruction)
        self._instruction = normal
        self._canary = canary.lower()
        self._runs = {normal[i : i + _RUN] for i in range(0, max(1, len(normal) - _RUN + 1), 8)}
        self.hold = max(len(canary), _RUN) + 8

    def leaked(self, answer: str) -> bool:
        normal = _normal(answer)
        return self._canary in normal.replace(" ", "") or any(run in normal for run in self._runs)

    def holdback(self, text: str) -> int:
        """How many trailing characters of a streamed `text` to keep back: the longest end of it (up to `hold`)
        that is a piece of the instructions (at least `_LEAST_RUN` characters) or the start of the canary (at least
        `_LEAST_CANARY`), since either may still grow into a leak."""
        for size in range(min(len(text), self.hold), 0, -1):
            normal = _SPACE.sub(" ", text[-size:].lower())
            piece, letters = normal.strip(), normal.replace(" ", "")
            if len(piece) >= _LEAST_RUN and piece in self._instruction:
                return size
            if len(letters) >= _LEAST_CANARY and self._canary.startswith(letters):
                return size
        return 0

    def check(self, answer: str) -> str:
        """The answer, or the refusal when it leaks (counted)."""
        if self.leaked(answer):
            LEAKS.inc()
            return REFUSAL
        return answer
