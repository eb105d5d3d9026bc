"""Pluggable backends picked by URL: in-process when no Redis is configured, Redis otherwise."""
