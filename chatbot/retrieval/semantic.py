"""Ranking by meaning: cosine of pooled sentence vectors, and token-level MaxSim."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from chatbot.retrieval.embedder import TextEmbedding

Scores = NDArray[np.float32]


class SemanticIndex:
    """Passage embeddings, computed once per index build, compared with a question's."""

    def __init__(self, embeddings: Sequence[TextEmbedding]) -> None:
        self._size = len(embeddings)
        dimension = embeddings[0].vector.shape[0] if embeddings else 0
        self._vectors = (
            np.stack([item.vector for item in embeddings]).astype(np.float32)
            if embeddings
            else np.zeros((0, dimension), dtype=np.float32)
        )
        # Token vectors of all passages in one matrix (float16 halves the memory), with the
        # offset where each passage starts, so that MaxSim is one product and one reduce.
        counts = [max(1, len(item.tokens)) for item in embeddings]
        self._starts = np.cumsum([0, *counts])[:-1].astype(np.int64)
        self._ends = self._starts + np.asarray(counts, dtype=np.int64)
        self._tokens = (
            np.concatenate(
                [item.tokens if len(item.tokens) else item.vector[None, :] for item in embeddings]
            ).astype(np.float16)
            if embeddings
            else np.zeros((0, dimension), dtype=np.float16)
        )

    def __len__(self) -> int:
        return self._size

    def cosine(self, query: TextEmbedding) -> Scores:
        """Cosine similarity of the question's pooled vector with every passage's."""
        result: Scores = self._vectors @ query.vector
        return result

    def maxsim(self, query: TextEmbedding, positions: Sequence[int]) -> Scores:
        """For the given passages: each question token's best match in the passage, averaged.

        Like ColBERT's late interaction: a question word finds its counterpart in a passage
        even when the passage as a whole is about more than the question.
        """
        if not len(query.tokens):
            return self.cosine(query)[list(positions)]
        scores = np.empty(len(positions), dtype=np.float32)
        for slot, position in enumerate(positions):
            tokens = self._tokens[self._starts[position] : self._ends[position]].astype(np.float32)
            scores[slot] = float((query.tokens @ tokens.T).max(axis=1).mean())
        return scores
