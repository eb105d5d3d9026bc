"""The field vocabulary every request body validates with, its JSON schema included."""
