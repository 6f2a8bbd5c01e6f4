"""Prompt templates. Versioned by name so answers can be traced to the template that produced them."""

from dataclasses import dataclass

PROMPT_VERSION = "grounded-v1"

_INSTRUCTION = (
    "Answer the question using only the numbered passages. Cite the passages you use like [1]. "
    "If the passages do not contain the answer, say: I don't know."
)

# One worked example teaches a base (not instruction-tuned) model the shape: answer, cite, stop.
_EXAMPLE = (
    "Passages:\n"
    "[1] Eiffel Tower\nThe Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.\n"
    "[2] Big Ben\nBig Ben is the nickname for the Great Bell of the clock at Westminster in London.\n\n"
    "Question: When was the Eiffel Tower completed?\n"
    "Answer: The Eiffel Tower was completed in 1889 [1].\n"
)

# A base model keeps writing past its answer; these end it at the first blank line or new section.
COMPLETION_STOP = ["\n\n", "\n[", "\nQuestion:", "\nPassages:", "###"]


@dataclass(frozen=True)
class Passage:
    index: int
    title: str
    text: str


def _passages(passages: list[Passage]) -> str:
    return "\n".join(f"[{p.index}] {p.title}\n{p.text.strip()}" for p in passages)


def completion_prompt(question: str, passages: list[Passage]) -> str:
    """Few-shot completion prompt that ends where the model's answer starts."""
    return (
        f"{_INSTRUCTION}\n\n{_EXAMPLE}\n###\n\n"
        f"Passages:\n{_passages(passages)}\n\nQuestion: {question.strip()}\nAnswer:"
    )


def chat_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    """System + user messages for instruction-tuned chat models."""
    return [
        {"role": "system", "content": _INSTRUCTION + " Keep the answer short."},
        {"role": "user", "content": f"Passages:\n{_passages(passages)}\n\nQuestion: {question.strip()}"},
    ]


@dataclass(frozen=True)
class Example:
    """A worked example for an extraction: the input and the JSON it should give."""

    text: str
    json: str


def extraction_prompt(instruction: str, text: str, passages: list[Passage], examples: list[Example]) -> str:
    """Completion prompt for a JSON answer: instruction, worked examples, then the input; ends where the JSON starts."""
    shots = "".join(f"Input: {e.text.strip()}\nJSON: {e.json.strip()}\n\n" for e in examples)
    context = f"Passages:\n{_passages(passages)}\n\n" if passages else ""
    return f"{instruction.strip()}\n\n{shots}###\n\n{context}Input: {text.strip()}\nJSON:"


def extraction_messages(
    instruction: str, text: str, passages: list[Passage], examples: list[Example]
) -> list[dict[str, str]]:
    """System + user messages for a JSON answer from a chat model; examples become earlier turns."""
    messages = [{"role": "system", "content": instruction.strip() + " Reply with one JSON object only."}]
    for example in examples:
        messages += [
            {"role": "user", "content": f"Input: {example.text.strip()}"},
            {"role": "assistant", "content": example.json.strip()},
        ]
    context = f"Passages:\n{_passages(passages)}\n\n" if passages else ""
    messages.append({"role": "user", "content": f"{context}Input: {text.strip()}"})
    return messages
