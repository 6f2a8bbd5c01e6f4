"""Conversations: a follow-up question made standalone from the earlier turns, before anything is cached, embedded
or retrieved, so that "and the second one?" finds what the conversation was about. By rule (query/followups.py), or
by the generator held to a JSON schema when `conversation_rewrite` is "llm" (the rules stand in when the model
fails, answers off the point, or no budget is left). The rewrite is returned with the answer so it can be checked."""

import json
import logging
from collections.abc import Sequence

import grpc

from ragmesh.generator.v1 import generator_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.learning.prompts import Instructions
from services.gateway.models import ConversationTurn, Rewrite
from services.gateway.query.followups import Turn, is_follow_up, standalone_by_rules
from services.gateway.query.questions import clean_question
from services.gateway.spending import Tab, tokens_at_most, usage_of
from services.runtime.errors import InvalidArgument
from services.runtime.telemetry import step

log = logging.getLogger(__name__)
_REWRITE_TOKENS = 96
_INSTRUCTION = (
    "Rewrite the follow-up as one question that can be understood without the conversation: say what its "
    "'it', 'they', 'that one' or 'the second one' refer to, using the earlier turns. Keep its meaning; do not "
    "answer it."
)
_EXAMPLES = [
    (
        "user: Which filters does the Osprey pump have?\nassistant: 1. An intake filter\n2. An oil filter\n"
        "Follow-up: and how often is the second one changed?",
        '{"question": "How often is the Osprey pump\'s oil filter changed?"}',
    ),
    (
        "user: How often must Kestrel API keys be rotated?\nassistant: Every 45 days.\n"
        "Follow-up: what happens to the old ones?",
        '{"question": "What happens to old Kestrel API keys after they are rotated?"}',
    ),
]


def turns_of(history: Sequence[ConversationTurn], max_turns: int, max_chars: int) -> list[Turn]:
    """The most recent turns, each cut to max_chars."""
    return [Turn(t.role, t.content[:max_chars]) for t in history[-max_turns:] if t.content.strip()]


class Conversations:
    """Makes a conversation's last question standalone."""

    def __init__(
        self, settings: GatewaySettings, downstream: Downstream, instructions: Instructions | None = None
    ) -> None:
        self._settings = settings
        self._downstream = downstream
        self._instructions = instructions or Instructions()

    async def standalone(self, tab: Tab, question: str, history: Sequence[ConversationTurn]) -> Rewrite | None:
        """The rewrite of `question` given the earlier turns; None when there are none, rewriting is off, or the
        question already stands alone."""
        s = self._settings
        if not history or s.conversation_rewrite == "off":
            return None
        turns = turns_of(history, s.conversation_max_turns, s.conversation_turn_chars)
        original = clean_question(question, s.max_question_chars)
        with step("gateway", "conversation") as span:
            if not turns or not is_follow_up(original):
                return None
            rewritten, method = None, "rules"
            if s.conversation_rewrite == "llm":
                rewritten, method = await self._by_model(tab, original, turns), "llm"
            if rewritten is None:
                rewritten, method = standalone_by_rules(original, turns), "rules"
            span.set_attribute("conversation.rewrite", method if rewritten else "none")
        if rewritten is None:
            return None
        return Rewrite(question=rewritten[: s.max_question_chars], original=original, method=method)

    async def _by_model(self, tab: Tab, question: str, turns: list[Turn]) -> str | None:
        text = "\n".join(f"{t.role}: {t.text}" for t in turns) + f"\nFollow-up: {question}"
        prompt = tokens_at_most(_INSTRUCTION, text, *(t + j for t, j in _EXAMPLES))
        charge = await tab.reserve_optional("rewrite", prompt, _REWRITE_TOKENS)
        if charge is None:
            return None
        limit = self._settings.max_question_chars
        schema = {
            "type": "object",
            "properties": {"question": {"type": "string", "minLength": 3, "maxLength": limit}},
            "required": ["question"],
        }
        reply = None
        instruction = await self._instructions.of(tab.caller, "rewrite", _INSTRUCTION)
        try:
            reply = await self._downstream.generator.Extract(
                generator_pb2.ExtractRequest(
                    role="rewrite",
                    instruction=instruction,
                    text=text,
                    json_schema=json.dumps(schema),
                    examples=[generator_pb2.ExtractExample(text=t, json=j) for t, j in _EXAMPLES],
                    max_tokens=_REWRITE_TOKENS,
                ),
                timeout=self._settings.self_query_llm_timeout_seconds,
            )
            rewritten = clean_question(json.loads(reply.json)["question"], limit)
        except (grpc.aio.AioRpcError, ValueError, KeyError, InvalidArgument) as exc:
            log.warning("the model could not rewrite a follow-up (%s); rewriting it by rule", type(exc).__name__)
            return None
        finally:
            await tab.settle(charge, usage_of(reply.usage) if reply is not None else None, reply.model if reply else "")
        # A rewrite that copies an earlier answer is off the point.
        if any(t.role == "assistant" and rewritten.strip() == t.text.strip() for t in turns):
            return None
        return rewritten
