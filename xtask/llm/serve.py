"""Run llama.cpp's OpenAI-compatible HTTP server (embedded in xllamacpp) until SIGTERM/SIGINT.

Started by xtask/llm/llm.sh up; run it with the venv's python:

    serve.py --model PATH [--host 127.0.0.1] [--port 8087] [--ctx 4096] [--threads 1] [--alias NAME]

It is also the entrypoint of the lanner-llm image (xtask/kube/image.sh), so it accepts the
llama-server spellings the Helm chart passes (--ctx-size, --metrics).

xllamacpp.Server(params) loads the model and serves HTTP from a background thread, so this
process only has to stay alive. Endpoints: /health, /v1/models, /v1/chat/completions, ...
"""

import argparse
import signal
import sys
import threading
import time

import xllamacpp as xlc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="path of the GGUF model")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8087)
    ap.add_argument("--ctx", "--ctx-size", type=int, default=4096, help="context size (tokens)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 stays fast when the cores are busy)")
    ap.add_argument("--parallel", type=int, default=1, help="server slots")
    ap.add_argument("--poll", type=int, default=None, help="llama.cpp threadpool busy-poll level 0-100")
    ap.add_argument("--alias", default=None, help="model name reported by /v1/models")
    ap.add_argument("--metrics", action="store_true", help="accepted for llama-server compatibility: always on")
    args = ap.parse_args()

    params = xlc.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.n_threads_http = 2
    if args.poll is not None:
        params.cpuparams.poll = args.poll
        params.cpuparams_batch.poll = args.poll
    params.cache_ram_mib = 256  # cap the host-side prompt cache (default 8 GiB)
    params.endpoint_metrics = True
    if args.alias:
        params.model_alias = {args.alias}

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    started = time.monotonic()
    server = xlc.Server(params)
    print(
        f"serve.py: model {args.model} loaded in {time.monotonic() - started:.2f} s; "
        f"listening on {server.listening_address}",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    print("serve.py: stopping", file=sys.stderr, flush=True)
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
