"""The embed widget in a real browser (a package: its conftest must not shadow the suite's)."""
