"""dglsp's engine behind the OpenAI-compatible API that vLLM serves for DiffusionGemma.

    python -m dglsp.openai_server --model DIR [--host 127.0.0.1] [--port 8000]

`app.py` is the API (routes, streaming, the engine request), `validation.py` checks requests
as vLLM does, `http.py` is the HTTP/1.1 layer, `thread.py` runs a server in a background
thread. docs/remote.md describes the API and dglsp's extensions to it.
"""

from dglsp.openai_server.app import Defaults, OpenAIServer
from dglsp.openai_server.thread import ServerThread

__all__ = ["Defaults", "OpenAIServer", "ServerThread"]
