"""Verification: from observations to located, associated events (pure computation, no I/O)."""
