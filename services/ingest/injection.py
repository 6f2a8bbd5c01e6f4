"""Documents that read like a prompt injection: text addressed to the assistant that will read it, not to a human
reader. Such a document is held at ingest (quarantine, kind "held") and kept out of answers until an administrator
releases it.

Signals, each a family of phrasings:
- override: "ignore / disregard / forget the previous instructions", "new instructions:", "from now on you ...";
- addressed: the text speaks to an AI that reads it ("AI assistants reading this must ...", "note to the
  language model", "when summarizing this document, say ...");
- role: chat-template markers and fake system turns ("<|im_start|>system", "[INST]", "### System:");
- extraction: asks for the system prompt, hidden instructions or secrets to be revealed;
- exfiltration: a link or image whose address carries a placeholder or parameter to be filled with the
  conversation, or an instruction to send data to an address.

A document that discusses prompt injection (a security guide, a paper) uses the same words, but quotes them,
reports them ("attackers may write ..."), or speaks of them in the third person. A phrase inside quotation marks
or code, or within a sentence that reports it, counts for less; a document is flagged when its strongest signals
add up past a threshold. Invisible characters stripped at extraction (text hidden from a reviewer) add weight.

Written by hand because the libraries made for this (llm-guard, rebuff, vigil) classify with a model fetched from
a hub at run time or call a hosted API; neither is allowed here. Measured on eval/injection/labelled.json
(python -m eval.injection).
"""

import re
from dataclasses import dataclass

# Each phrasing's weight, and the score at which a document is held.
THRESHOLD = 2.0
# A quoted or reported phrase counts for this share of its weight.
DISCOUNT = 0.25

_I = re.IGNORECASE
_QUALIFIER = r"(previous|prior|above|earlier|preceding|original|existing|other|all|any|your|system)"
_RULES = r"(instructions?|prompts?|directions?|rules|guidelines|guidance|guardrails|context|constraints)"
_AI = r"(ai|assistant|chatbot|language model|llm|gpt|claude|gemini|copilot|model)s?"
PATTERNS: dict[str, list[tuple[re.Pattern[str], float]]] = {
    "override": [
        (
            re.compile(
                rf"\b(ignore|disregard|forget|override|bypass|skip)\b[^.;\n]{{0,20}}?\b({_QUALIFIER}(\s+[\w-]+){{0,2}}\s+"
                rf"{_RULES}|{_RULES}\s+(above|before this))\b",
                _I,
            ),
            2.0,
        ),
        (re.compile(r"\bnew (system )?instructions?\s*[:\-]\s*(the |you |respond|answer|reply|say)", _I), 2.0),
        (re.compile(r"\bfrom now on,? (you (will|must|should|shall|are to)|the assistant|the ai)\b", _I), 2.0),
        (
            re.compile(
                r"\b(ignore|disregard|forget|stop following)\b[^.;\n]{0,15}?\b(everything|whatever|anything|all)\b"
                r"[^.;\n]{0,25}?\b(above|before|earlier|you (were|have been|'ve been) (told|given))\b",
                _I,
            ),
            2.0,
        ),
        (re.compile(rf"\bstop following (your|the|any|all) ({_QUALIFIER}\s+)?{_RULES}", _I), 2.0),
        (re.compile(r"\byour (only|new|real) (task|job|goal|purpose) (now )?is to\b", _I), 2.0),
        (re.compile(r"\byou are (hereby )?instructed to\b", _I), 2.0),
        (
            re.compile(
                r"\byou are (now|no longer)\b[^.;\n]{0,40}?\b(assistant|ai|model|chatbot|bot|dan|unrestricted|"
                r"jailbroken|unfiltered)\b",
                _I,
            ),
            2.0,
        ),
        (
            re.compile(r"\b(do not|don't|never) (tell|inform|mention (this|it) to|reveal (this|it) to) the user\b", _I),
            2.0,
        ),
    ],
    "addressed": [
        (
            re.compile(
                rf"\b{_AI}\b[^.\n]{{0,30}}?\b(reading|processing|summari[sz]ing|that reads?|who reads?|that "
                rf"process(es)?)\s+(this|these)\b",
                _I,
            ),
            2.0,
        ),
        (re.compile(rf"\b(note|message|instructions?) (to|for) (the |any )?{_AI}\b", _I), 2.0),
        (re.compile(rf"\bto (any|every|the) {_AI} (reading|processing)\b", _I), 2.0),
        (re.compile(rf"\bif you are an? {_AI}\b", _I), 2.0),
        (re.compile(rf"\bas (the|an?) {_AI},? you\b", _I), 2.0),
        (re.compile(rf"^\s*{_AI}\s*:\s*(reply|respond|answer|say|tell|ignore|you)\b", _I | re.MULTILINE), 2.0),
        (
            re.compile(rf"\b({_AI}|agents?|crawlers?|bots?) (parsing|reading|processing|visiting|indexing) this\b", _I),
            2.0,
        ),
        (re.compile(rf"\binstructions? (to|for) (all |any )?{_AI}\b", _I), 2.0),
        (re.compile(r"\bthe (ai|assistant|chatbot|model|llm) has been (updated|reconfigured|reprogrammed)\b", _I), 2.0),
        (
            re.compile(
                r"\bwhen (you |an? (ai|assistant|llm|model) )?(summari[sz]e|summari[sz]ing|answer(ing)?|respond(ing)?|"
                r"read(ing)?|process(ing)?)\b[^.\n]{0,30}?\b(this|these)\b[^.\n]{0,40}?\b(always|must|you should)\b",
                _I,
            ),
            2.0,
        ),
        (re.compile(rf"\b(dear|attention|hey) {_AI}\b", _I), 2.0),
        (
            re.compile(
                r"\bthe (ai|assistant|chatbot|model|llm) (must|shall|should) (always |only |never )?"
                r"(answer|say|respond|reply|tell|recommend|claim|state|insult|include|describe|approve)\b",
                _I,
            ),
            # Design documents say the same of their own assistant: not enough alone.
            1.0,
        ),
        (
            re.compile(
                r"\b(assistant|ai),? (you must|please|you should) (say|tell|respond|reply|answer|recommend)\b", _I
            ),
            2.0,
        ),
        (re.compile(r"\b(respond|reply|answer) (to every user |to everyone )?only with\b", _I), 1.0),
    ],
    "role": [
        # Chat-template tokens and fake turns: ordinary prose never holds them unquoted.
        (re.compile(r"<\|(im_start|im_end|system|user|assistant|start_header_id|endoftext)\|?>", _I), 2.0),
        (re.compile(r"\[/?INST\]|<</?SYS>>", _I), 2.0),
        (re.compile(r"\[(system|assistant)\]\(#", _I), 2.0),
        (re.compile(r"^\s*(#{1,4}\s*)?(system|assistant)\s*(prompt|message)?\s*:\s*\S", _I | re.MULTILINE), 1.5),
        (re.compile(r"\b(god|jailbreak|DAN) mode\b", _I), 1.5),
    ],
    "extraction": [
        (
            re.compile(
                r"\b(reveal|print|repeat|output|disclose|leak|recite)\b[^.\n]{0,30}?\b(your|the)\b[^.\n]{0,20}?"
                r"\b(system prompt|initial prompt|initial instructions|hidden (instructions|prompt)|instructions above|"
                r"instructions|api keys?|administrator password|secrets?|hidden configuration)\b",
                _I,
            ),
            2.0,
        ),
        (re.compile(r"\bwhat (is|are|were) your (system prompt|instructions|initial instructions)\b", _I), 1.0),
    ],
    "exfiltration": [
        (re.compile(r"!\[[^\]]*\]\(\s*https?://[^)\s]*[?&][^)\s]*=[^)\s]*\)", _I), 2.5),
        (
            re.compile(
                r"https?://[^\s)]*(\{|%7b|\[|<)[^\s)]*(conversation|chat|history|data|secret|query|prompt|question)",
                _I,
            ),
            2.5,
        ),
        (
            re.compile(
                r"\b(send|post|forward|upload|transmit|append|encode|include|collect|put)\b[^.\n]{0,30}?\b(the )?"
                r"(conversation|chat history|messages|previous answers|user'?s? \w+)\b[^.\n]{0,80}?\b(to|into|in) "
                r"(the |a )?(url|link|address|https?://|webhook|endpoint|image)",
                _I,
            ),
            2.5,
        ),
    ],
}
# A phrase reported rather than spoken: inside quotation marks or code, or after a reporting frame.
_QUOTED = re.compile(r"[\"“”'‘’`]")
_REPORTING = re.compile(
    r"\b(such as|for example|e\.g\.|like|e\. g\.|attackers?|adversar(y|ies)|malicious|injection|jailbreaks?|"
    r"phrases?|strings?|payloads?|prompts? like|might (say|write|contain)|may (say|write|contain)|could "
    r"(say|write|contain)|example|called|known as|detect(s|ed|ing|ion)?|filter(s|ed|ing)?|block(s|ed|ing)?|"
    r"classif(y|ier|ies)|research(ers)?|study|paper|we (found|show|observe))\b",
    _I,
)


_NAMED_AFTER = re.compile(
    r"\W{0,3}\s*(is|are|was|were) (a |an |the )?(common|typical|classic|known|example|attack)", _I
)


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    score: float
    # "family: the phrase" for each signal found, strongest first.
    signals: list[str]

    @property
    def reason(self) -> str:
        return "reads like a prompt injection: " + "; ".join(self.signals[:3])


def _sentence(text: str, start: int, end: int) -> tuple[str, str]:
    """The text of the sentence around a match, before and after it."""
    left = max(text.rfind(mark, 0, start) for mark in (".", "\n", "!", "?")) + 1
    rights = [i for i in (text.find(mark, end) for mark in (".", "\n", "!", "?")) if i != -1]
    return text[left:start], text[end : min(rights) if rights else len(text)]


def _reported(text: str, start: int, end: int) -> bool:
    """Quoted, introduced by a reporting frame ("attackers write ...", "such as ..."), or named after the fact
    ("... is a common payload")."""
    before, after = _sentence(text, start, end)
    quoted = bool(_QUOTED.search(before[-3:])) or bool(_QUOTED.search(after[:3]))
    return quoted or bool(_REPORTING.search(before)) or bool(_NAMED_AFTER.match(after))


def inspect(text: str, invisible_removed: int = 0) -> Verdict:
    """Whether the text reads like a prompt injection, with the score and the signals found."""
    found: list[tuple[float, str]] = []
    for family, patterns in PATTERNS.items():
        best = 0.0
        phrase = ""
        for pattern, full in patterns:
            for match in pattern.finditer(text):
                weight = full * (DISCOUNT if _reported(text, match.start(), match.end()) else 1.0)
                if weight > best:
                    best, phrase = weight, match.group(0).strip()[:80]
        if best:
            found.append((best, f"{family}: {phrase!r}"))
    score = sum(weight for weight, _ in found)
    if invisible_removed and found:
        # Text someone hid from a reviewer, beside words aimed at the model.
        score += 1.0
        found.append((1.0, f"hidden: {invisible_removed} invisible characters"))
    found.sort(key=lambda item: -item[0])
    return Verdict(flagged=score >= THRESHOLD, score=round(score, 2), signals=[signal for _, signal in found])
