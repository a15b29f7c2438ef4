"""Offline pipeline: data -> splits -> (translate) -> (cross-task pre-train) -> LoRA fine-tune -> evaluate
-> merge -> a carded checkpoint in the local store. Each stage is a small function; `training.cli` and
`run --config` compose them."""
