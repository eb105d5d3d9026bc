"""HTTP plumbing shared by every feature: routing, validation, middlewares, responses."""
