"""Knowledge retrieval: passages ranked by wording (BM25) and meaning (sentence embeddings)."""
