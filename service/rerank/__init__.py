"""The Cohere-compatible rerank API (`POST /v1/rerank`, `POST /v2/rerank`): a query and documents in, the
documents' indices ordered by relevance out, scored as pairs of one task through `ScoringService`."""
