"""Online scoring service: FastAPI app, micro-batcher, metrics and backends (torch, vllm)."""
