"""Accounts: registration, login, JWT sessions, the profile, rate limits on the front door."""
