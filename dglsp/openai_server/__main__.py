"""python -m dglsp.openai_server --model DIR: dglsp's in-process engine behind vLLM's OpenAI API.

Loads the model first, then listens (like `vllm serve`), and prints one line on stdout once
it accepts requests: `dglsp.openai_server: serving NAME at http://HOST:PORT/v1`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from typing import get_args

from dglsp.config import Dtype
from dglsp.engine.base import EngineError, Progress
from dglsp.engine.openai_compat import API_KEY_ENV
from dglsp.openai_server.app import Defaults, OpenAIServer

log = logging.getLogger("dglsp.openai_server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dglsp.openai_server", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a model directory or a cached Hugging Face id")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (default 8000, as vLLM; 0: any free port)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument(
        "--dtype",
        choices=get_args(Dtype),
        default="auto",
        help="precision: auto (default), bfloat16, float32 or fp8 (FP8 weights, dglsp's `dtype` setting)",
    )
    parser.add_argument("--served-model-name", help="the model id clients send (default: --model as given)")
    parser.add_argument("--steps", type=int, default=48, help="denoising steps when a request sets none")
    parser.add_argument("--entropy-bound", type=float, default=0.1, help="the sampler's entropy bound")
    parser.add_argument("--seed", type=int, default=0, help="noise seed when a request sets no dglsp_seed")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} if set)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        help="concurrent requests sharing one denoising pass at most (default: 4 on a GPU, 1 on the CPU)",
    )
    parser.add_argument("--log-level", default="warning", help="debug, info, warning (default) or error")
    return parser


async def serve(args: argparse.Namespace) -> int:
    from dglsp.engine.inprocess import InProcessEngine

    server = OpenAIServer(
        InProcessEngine(args.model, args.device, args.max_batch, dtype=args.dtype),
        served_model_name=args.served_model_name or args.model,
        root=args.model,
        defaults=Defaults(args.steps, args.entropy_bound, args.seed),
        api_key=args.api_key,
    )

    def progress(report: Progress) -> None:
        percent = f" ({report.percentage}%)" if report.percentage is not None else ""
        print(f"dglsp.openai_server: {report.message}{percent}", file=sys.stderr, flush=True)

    try:
        port = await server.start(args.host, args.port, progress)
    except EngineError as error:
        print(f"dglsp.openai_server: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"dglsp.openai_server: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        await server.close()
        return 1
    if not _is_loopback(args.host):
        log.warning("listening on %s: anyone who can reach it can use the model", args.host)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"dglsp.openai_server: serving {server.model_name} at http://{host}:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.close()
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
