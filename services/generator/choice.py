"""Which models a request is tried with, in what order, with which parameters each accepts, and the dearest price
any of them may cost: the generator's configured models, a role's own, the economy model, a model a request names
(from the allowed ones), and reasoning models' own parameters."""

import os

# Never fetch the price map at import: the packaged copy is enough and the network may be closed.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from services.generator.config import GeneratorSettings
from services.runtime.errors import InvalidArgument


class ModelChoice:
    """The generator's models, as configured."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._settings = settings

    @property
    def models(self) -> list[str]:
        """The configured model, then its fallbacks, in the order they are tried."""
        return [self._settings.model, *self._settings.fallbacks]

    @property
    def allowed(self) -> list[str]:
        """Every model a request may name: the configured ones and `allowed_models`."""
        s = self._settings
        named = [*self.models, s.economy_model, *s.role_models.values(), *s.allowed_models]
        return list(dict.fromkeys(m for m in named if m))

    def order(self, economy: bool, role: str = "answer", asked: str = "") -> list[str]:
        """The models to try for one request: the one it asked for, the role's own model when one is configured,
        the economy model when asked for and configured, then the configured model and its fallbacks."""
        if asked and asked not in self.allowed:
            raise InvalidArgument(f"model {asked!r} is not one this generator may call: {', '.join(self.allowed)}")
        first = [asked, self._settings.role_models.get(role, "")]
        if economy:
            first.append(self._settings.economy_model)
        return list(dict.fromkeys([*(m for m in first if m), *self.models]))

    def reasoning(self, model: str) -> bool:
        """Whether `model` is a reasoning model (max_completion_tokens, no temperature)."""
        if model in self._settings.reasoning_models:
            return True
        try:
            return bool(litellm.supports_reasoning(model=model))
        except Exception:
            return False

    def sampling(self, model: str, max_tokens: int, temperature: float) -> dict:
        """The length and sampling parameters `model` accepts: a reasoning model gets max_completion_tokens (its
        budget covers its reasoning too) and no temperature, so no provider answers 400 for a refused parameter."""
        if not self.reasoning(model):
            return {"max_tokens": max_tokens, "temperature": temperature}
        effort = {"reasoning_effort": self._settings.reasoning_effort} if self._settings.reasoning_effort else {}
        return {"max_completion_tokens": max_tokens, **effort}

    def prices(self) -> tuple[float, float]:
        """The highest input and output price per token of any model a request may be answered with (LiteLLM's
        price map); 0 for models it does not price (local, self-hosted), whose price the caller configures."""
        prices = [(0.0, 0.0)]
        for model in self.allowed:
            try:
                info = litellm.get_model_info(model)
            except Exception:
                continue
            prices.append((info.get("input_cost_per_token") or 0.0, info.get("output_cost_per_token") or 0.0))
        return max(p[0] for p in prices), max(p[1] for p in prices)
