"""Scoring backends behind one contract (`service.backends.base.Backend`); each backend is one module."""
