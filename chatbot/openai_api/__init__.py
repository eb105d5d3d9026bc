"""The OpenAI-compatible API under `/v1/`: each chatbot a model, answered by its own brain."""
