"""Rate limits on every request and on the front door (login, registration), shared by instances.

Handlers name extra policies with `@limited(...)`; other code (WebSockets) calls `check_rate`.
"""
