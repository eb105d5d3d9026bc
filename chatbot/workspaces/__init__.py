"""Workspaces: who belongs to which tenant, with which role, and what each role may do."""
