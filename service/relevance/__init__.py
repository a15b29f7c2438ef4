"""The relevance feature in one place: its routes (`api_router`), request and response bodies
(`protocol`) and scoring logic (`serving`), all generated from or driven by the task registry."""
