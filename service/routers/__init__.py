"""Thin routers, one per feature; the logic lives in service objects reached through `deps`."""
