"""chatbot: a self-hostable server for website chatbots with live human takeover."""

__version__ = "0.1.0"
