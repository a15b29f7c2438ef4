"""The small routers: models, health, admin and metrics (the relevance feature has its own folder,
`service.relevance`); the logic lives in service objects reached through `deps`."""
