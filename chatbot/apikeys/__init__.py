"""API keys: per-workspace credentials for scripts and integrations, revocable at once."""
