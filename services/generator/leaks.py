"""Prompt-leak protection: a canary hidden in the instructions, and the instructions themselves. An answer that
carries the canary or reproduces a long run of the instructions is replaced by a refusal and counted; a streamed
one keeps back a tail long enough that neither ever leaves the generator."""

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
        self._canary = canary.lower()
        self._runs = {normal[i : i + _RUN] for i in range(0, max(1, len(normal) - _RUN + 1), 8)}
        self.hold = max(len(canary), _RUN) + 8

    def leaked(self, answer: str) -> bool:
        normal = _normal(answer)
        return self._canary in normal.replace(" ", "") or any(run in normal for run in self._runs)

    def check(self, answer: str) -> str:
        """The answer, or the refusal when it leaks (counted)."""
        if self.leaked(answer):
            LEAKS.inc()
            return REFUSAL
        return answer
