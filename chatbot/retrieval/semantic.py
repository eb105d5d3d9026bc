"""Ranking by meaning: cosine of pooled sentence vectors, and token-level MaxSim."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chatbot.retrieval.embedder import TextEmbedding

Scores = NDArray[np.float32]


def limit_blas_threads() -> None:
    """Let NumPy's BLAS use one thread per process, as the sentence model does.

    Its threads spin while they wait: over 50,000 passages a question's cosines took four times
    the CPU with two threads as with one, and longer on a busy machine. threadpoolctl comes
    with the sentence model's dependencies; without it the BLAS keeps its own default.
    """
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
    except ImportError:
        return
    threadpoolctl.threadpool_limits(1, user_api="blas")


class SemanticIndex:
    """Passage embeddings, compared with a question's; passages are added and removed in O(dim).

    The pooled vectors live in a preallocated float32 matrix that doubles when full; `remove`
    moves the last row into the freed one, so the live rows stay one contiguous block and a
    question's cosines are one matrix-vector product over exactly the passages.
    """

    def __init__(self, embeddings: Sequence[TextEmbedding] = ()) -> None:
        self._size = 0
        dimension = embeddings[0].vector.shape[0] if embeddings else 0
        self._vectors = np.zeros((0, dimension), dtype=np.float32)
        # Each passage's token vectors for MaxSim, in float16: they are most of the memory.
        self._tokens: list[NDArray[np.float16]] = []
        self.add(embeddings)

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """The memory its arrays take, preallocated rows included."""
        return int(self._vectors.nbytes + sum(tokens.nbytes for tokens in self._tokens))

    def add(self, embeddings: Sequence[TextEmbedding]) -> None:
        """Append passages' embeddings after the current ones."""
        if not embeddings:
            return
        start, end = self._size, self._size + len(embeddings)
        if end > len(self._vectors):
            dimension = embeddings[0].vector.shape[0]
            vectors = np.zeros((max(end, 2 * len(self._vectors)), dimension), dtype=np.float32)
            vectors[:start] = self._vectors[:start]
            self._vectors = vectors
        self._vectors[start:end] = [item.vector for item in embeddings]
        self._tokens.extend(
            (item.tokens if len(item.tokens) else item.vector[None, :]).astype(np.float16)
            for item in embeddings
        )
        self._size = end

    def remove(self, position: int) -> None:
        """Drop the passage at `position`; the last passage takes its place."""
        last = self._size - 1
        if position != last:
            self._vectors[position] = self._vectors[last]
            self._tokens[position] = self._tokens[last]
        self._vectors[last] = 0
        self._tokens.pop()
        self._size = last

    def cosine(self, query: TextEmbedding) -> Scores:
        """Cosine similarity of the question's pooled vector with every passage's."""
        result: Scores = self._vectors[: self._size] @ query.vector
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
            tokens = self._tokens[position].astype(np.float32)
            scores[slot] = float((query.tokens @ tokens.T).max(axis=1).mean())
        return scores
