"""The remote engine: an OpenAI-compatible server (vLLM serving DiffusionGemma, or `python -m
dglsp.openai_server`). `engine.py` is the Engine; `body.py` builds requests, `http.py` and
`sse.py` carry them, `wire.py` names the fields both sides share. See docs/remote.md."""

from dglsp.engine.openai_compat.engine import API_KEY_ENV, OpenAICompatibleEngine

__all__ = ["API_KEY_ENV", "OpenAICompatibleEngine"]
