"""LLM spend: the tokens each answer cost, per chatbot, month, day and conversation, and the
budgets that stop a chatbot's LLM brain once reached.

Ask a brain through `budgeted_reply` (in `spend.budget`) wherever an answer may spend tokens:
it refuses over budget and records what the answer cost when it ends.
"""
