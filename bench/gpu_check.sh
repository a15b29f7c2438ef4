#!/usr/bin/env bash
# The GPU check, on a machine with PyTorch (CUDA), transformers, peft and accelerate and no network:
#   1. installs what else the GPU tests import from the wheels `python -m bench.gpu_bundle` downloaded
#      (runs/gpu_bundle/, shipped beside the working tree), only where missing;
#   2. runs `pytest -m gpu tests/test_gpu.py` (CUDA against CPU: forward pass, bf16 LoRA step + merge,
#      the service on cuda, bi-encoder embeddings);
#   3. measures fp32 against bf16 throughput of the forward pass (bench/gpu_throughput.py);
#   4. prints a summary. Results go to $OUT (else runs/gpu_check/). Under 10 minutes in all.
# Usage: bash bench/gpu_check.sh [wheel-folder]    (env: PYTHON, OUT, TEST_TIMEOUT_S, BENCH_SECONDS)
# GPU_TEST_DEVICE=cpu dry-runs the script and the tests' logic on a CPU (proves nothing about CUDA).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${1:-${GPU_WHEELS:-runs/gpu_bundle}}"
RESULTS="${OUT:-runs/gpu_check}"
TEST_TIMEOUT_S="${TEST_TIMEOUT_S:-420}"
BENCH_SECONDS="${BENCH_SECONDS:-8}"
DEVICE="${GPU_TEST_DEVICE:-cuda}"
IMPORTS="pytest, pydantic_settings, fastapi, uvicorn, httpx, prometheus_client"
export GPU_TEST_DEVICE="$DEVICE" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONDONTWRITEBYTECODE=1
mkdir -p "$RESULTS"
started=$(date +%s)

echo "== environment"
"$PYTHON" - <<'EOF' | tee "$RESULTS/environment.txt"
import platform, torch, transformers
print("python", platform.python_version(), "| torch", torch.__version__, "| transformers", transformers.__version__)
for name in ("peft", "accelerate"):
    try:
        print(name, __import__(name).__version__)
    except ImportError:
        print(name, "MISSING")
print("cuda available:", torch.cuda.is_available(), "| cuda", torch.version.cuda)
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0), "| bf16 supported:", torch.cuda.is_bf16_supported())
EOF
if [ "$DEVICE" != cpu ] && ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "no CUDA device: the GPU tests would all be skipped; stopping" >&2
  exit 2
fi

echo "== dependencies"
if "$PYTHON" -c "import $IMPORTS" 2>/dev/null; then
  echo "already installed: $IMPORTS"
else
  if [ ! -f "$WHEELS/requirements.txt" ]; then
    echo "missing $WHEELS/requirements.txt: run 'python -m bench.gpu_bundle' on a networked machine" >&2
    exit 2
  fi
  "$PYTHON" -m pip install --no-index --find-links "$WHEELS" --disable-pip-version-check -q \
    -r "$WHEELS/requirements.txt"
  "$PYTHON" -c "import $IMPORTS"
  echo "installed from $WHEELS"
fi
if ! "$PYTHON" -c "import sklearn" 2>/dev/null; then
  echo "no scikit-learn: the bi-encoder test runs on its base only (bundle --with-sklearn for the rest)"
fi

echo "== pytest -m gpu tests/test_gpu.py"
tests_rc=0
timeout "$TEST_TIMEOUT_S" "$PYTHON" -m pytest -m gpu tests/test_gpu.py -p no:cacheprovider \
  --junitxml "$RESULTS/gpu_tests.xml" 2>&1 | tee "$RESULTS/gpu_tests.log" || tests_rc=$?

echo "== throughput: fp32 vs bf16 (${BENCH_SECONDS}s a cell)"
bench_rc=0
timeout 240 "$PYTHON" -m bench.gpu_throughput --device "$DEVICE" --seconds "$BENCH_SECONDS" \
  --out "$RESULTS/gpu_throughput.json" 2>&1 | tee "$RESULTS/gpu_throughput.log" || bench_rc=$?

echo
echo "== summary ($(($(date +%s) - started)) s)"
grep -E '^(python|device)' "$RESULTS/environment.txt" || true
tail -n 1 "$RESULTS/gpu_tests.log" | sed 's/^/tests: /'
if [ "$tests_rc" -eq 0 ]; then echo "tests: PASSED"; else echo "tests: FAILED (exit $tests_rc; 124 = timed out)"; fi
grep -E '^(\||bf16 / fp32)' "$RESULTS/gpu_throughput.log" || true
if [ "$bench_rc" -eq 0 ]; then echo "throughput: done"; else echo "throughput: FAILED (exit $bench_rc)"; fi
echo "results in $RESULTS/: environment.txt gpu_tests.log gpu_tests.xml gpu_throughput.log gpu_throughput.json"
if [ "$tests_rc" -ne 0 ] || [ "$bench_rc" -ne 0 ]; then exit 1; fi
