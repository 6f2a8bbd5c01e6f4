"""The generator service: prompts, LLM calls through LiteLLM, usage and cost."""
