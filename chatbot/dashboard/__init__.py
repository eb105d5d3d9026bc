"""The operator dashboard: server-rendered pages under `/dashboard/` with cookie sessions."""
