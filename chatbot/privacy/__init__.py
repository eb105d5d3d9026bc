"""Visitor data: export, erasure, retention of conversations."""
