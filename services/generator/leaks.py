"""Prompt-leak protection: a canary hidden in the instructions, and the instructions themselves. An answer that
carries the canary or reproduces a long run of the instructions is replaced by a refusal and counted; a streamed
one keeps back only the tail that could still grow into either (the longest end of the text that is a piece of
the instructions or the start of the canary: usually a few characters), so tokens leave as they come and neither
ever leaves the generator."""

import re
import secrets

from prometheus_client import Counter

LEAKS = Counter("ragmesh_generator_prompt_leaks", "Answers refused because they carried the prompt's canary or text.")
REFUSAL = "I can't share that."
# A run of this many characters of the instructions in an answer counts as reproducing them.
_RUN = 40
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
        that is a piece of the instructions or the start of the canary, since either may still grow into a leak."""
        for size in range(min(len(text), self.hold), 0, -1):
            tail = text[-size:]
            normal = _SPACE.sub(" ", tail.lower())
            if not normal.strip():
                continue
            if normal.strip() in self._instruction or self._canary.startswith(normal.replace(" ", "")):
                return size
        return 0

    def check(self, answer: str) -> str:
        """The answer, or the refusal when it leaks (counted)."""
        if self.leaked(answer):
            LEAKS.inc()
            return REFUSAL
        return answer
