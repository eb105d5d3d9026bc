"""A chatbot's knowledge index: BM25 and sentence embeddings fused, with a calibrated confidence.

How passages are scored and how sure a match is: chatbot/retrieval/scoring.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np

from chatbot.retrieval.embedder import Embedder, TextEmbedding
from chatbot.retrieval.lexical import LexicalIndex, tokenize
from chatbot.retrieval.passages import Passage
from chatbot.retrieval.scoring import (
    content_terms,
    fused_scores,
    lexical_confidence,
    semantic_confidence,
)
from chatbot.retrieval.semantic import SemanticIndex

CANDIDATES = 32  # passages per ranking that get the (costlier) token-level comparison

Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")


def _bare(passage: Passage) -> Passage:
    return passage if passage.embedding is None else dataclasses.replace(passage, embedding=None)


def _exclusive(
    method: Callable[Concatenate[KnowledgeIndex, Arguments], Result],
) -> Callable[Concatenate[KnowledgeIndex, Arguments], Result]:
    """Run the method holding the index's lock: never beside an update."""

    @functools.wraps(method)
    def locked(
        index: KnowledgeIndex, /, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> Result:
        with index._lock:
            return method(index, *args, **kwargs)

    return locked


@dataclass(frozen=True, slots=True)
class Match:
    """A passage found for a question, with the confidence that it answers it (0 to 1)."""

    passage: Passage
    confidence: float
    score: float
    bm25: float
    coverage: float
    cosine: float | None = None
    maxsim: float | None = None


class KnowledgeIndex:
    """Passages searchable by wording and, with an embedder, by meaning.

    `update` replaces entries' passages in place, in time proportional to the passages
    changed; a lock keeps searches (in worker threads) from seeing an update half done.
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        lexical: LexicalIndex,
        semantic: SemanticIndex | None,
        embedder: Embedder | None,
    ) -> None:
        # Without their embeddings: the semantic index holds them, compactly.
        self.passages = [_bare(passage) for passage in passages]
        self._lexical = lexical
        self._semantic = semantic
        self._embedder = embedder
        self._positions = {passage.id: position for position, passage in enumerate(passages)}
        self._by_entry: dict[str, list[str]] = {}
        for passage in passages:
            self._by_entry.setdefault(passage.entry_id, []).append(passage.id)
        self._lock = threading.Lock()
        self.updates = 0  # how many times `update` changed it in place

    @classmethod
    def build(cls, passages: Sequence[Passage], embedder: Embedder | None = None) -> KnowledgeIndex:
        """Tokenize and embed the passages (blocking: CPU-bound, seconds for big knowledge bases).

        Passages that carry a stored `embedding` are not embedded again.
        """
        lexical = LexicalIndex([passage.match_text for passage in passages])
        semantic = None
        if embedder is not None:
            semantic = SemanticIndex(_embeddings(passages, embedder))
        return cls(passages, lexical, semantic, embedder)

    @classmethod
    def empty(cls) -> KnowledgeIndex:
        """An index without passages: every question gets the fallback."""
        return cls((), LexicalIndex(), None, None)

    def update(self, entry_ids: Collection[str], passages: Sequence[Passage]) -> None:
        """Replace the passages of these entries with `passages` (blocking: tokenizes, embeds).

        An entry id without new passages is deleted; passages without a stored embedding are
        embedded. Nothing else is tokenized or embedded again.
        """
        tokens = tokenize([passage.match_text for passage in passages]) if passages else []
        embedded = None
        if self._semantic is not None and self._embedder is not None:
            embedded = _embeddings(passages, self._embedder)
        with self._lock:
            for entry_id in entry_ids:
                for passage_id in self._by_entry.pop(entry_id, []):
                    self._remove(self._positions.pop(passage_id))
            start = len(self.passages)
            self._lexical.add(tokens)
            if self._semantic is not None and embedded is not None:
                self._semantic.add(embedded)
            for position, passage in enumerate(passages, start):
                self.passages.append(_bare(passage))
                self._positions[passage.id] = position
                self._by_entry.setdefault(passage.entry_id, []).append(passage.id)
            self.updates += 1

    def _remove(self, position: int) -> None:
        # The last passage moves into the freed position in every part alike.
        self._lexical.remove(position)
        if self._semantic is not None:
            self._semantic.remove(position)
        last = self.passages.pop()
        if position < len(self.passages):
            self.passages[position] = last
            self._positions[last.id] = position

    @property
    def nbytes(self) -> int:
        """The memory of its embedding arrays (the bulk of a semantic index), for benchmarks."""
        return self._semantic.nbytes if self._semantic is not None else 0

    @property
    def semantic(self) -> bool:
        """Whether questions are matched by meaning too, not only by wording."""
        return self._semantic is not None

    def __len__(self) -> int:
        return len(self.passages)

    @_exclusive
    def search(self, question: str, limit: int = 3) -> list[Match]:
        """The best passages for the question, best first (blocking: embeds the question)."""
        if not self.passages or not question.strip() or limit < 1:
            return []
        terms = self._lexical.query_terms(question)
        content = content_terms(terms)
        if self._semantic is None or self._embedder is None:
            # Ranked on content words only: "what" or "you" shared with an entry is no match.
            bm25 = self._lexical.scores(content)
            order = _top(bm25, limit)
            return [self._lexical_match(index, content, float(bm25[index])) for index in order]

        # With the model, BM25 keeps the question words: measured on the tuning sets, they
        # break near-ties between entries for the better ("Do you ...?" against "How do I ...?").
        bm25 = self._lexical.scores(terms)
        best_bm25 = float(bm25.max())
        lexical = bm25 / best_bm25 if best_bm25 > 0 else bm25

        query = self._embedder.embed([question])[0]
        cosine = self._semantic.cosine(query)
        candidates = sorted(
            set(_top(cosine, CANDIDATES)) | set(_top(bm25, CANDIDATES) if best_bm25 > 0 else [])
        )
        maxsim = self._semantic.maxsim(query, candidates)
        semantic = (cosine[candidates] + maxsim) / 2
        fused = fused_scores(semantic, lexical[candidates])
        matches = []
        for slot in np.argsort(-fused, kind="stable")[:limit]:
            index = candidates[int(slot)]
            matches.append(
                Match(
                    passage=self.passages[index],
                    confidence=semantic_confidence(float(semantic[slot])),
                    score=float(fused[slot]),
                    bm25=float(bm25[index]),
                    coverage=self._lexical.coverage(content, index),
                    cosine=float(cosine[index]),
                    maxsim=float(maxsim[slot]),
                )
            )
        return matches

    async def asearch(self, question: str, limit: int = 3) -> list[Match]:
        """`search` in a worker thread, for use on the event loop."""
        return await asyncio.to_thread(self.search, question, limit)

    def _lexical_match(self, index: int, terms: Sequence[str], bm25: float) -> Match:
        coverage = self._lexical.coverage(terms, index) if bm25 > 0 else 0.0
        return Match(
            passage=self.passages[index],
            confidence=lexical_confidence(coverage),
            score=bm25,
            bm25=bm25,
            coverage=coverage,
        )


async def build_index(
    passages: Sequence[Passage], embedder: Embedder | None = None
) -> KnowledgeIndex:
    """Build the index in a worker thread: never tokenize or embed on the event loop."""
    return await asyncio.to_thread(KnowledgeIndex.build, passages, embedder)


def _embeddings(passages: Sequence[Passage], embedder: Embedder) -> list[TextEmbedding]:
    """The passages' stored embeddings, with the missing ones computed."""
    known = [passage.embedding for passage in passages]
    missing = [index for index, item in enumerate(known) if item is None]
    computed = embedder.embed([passages[index].match_text for index in missing])
    for index, item in zip(missing, computed, strict=True):
        known[index] = item
    return [item for item in known if item is not None]


def _top(scores: np.ndarray, count: int) -> list[int]:
    """The positions of the `count` best scores, best first, ties by position (a stable sort).

    Partitioned first: fully sorting 50,000 scores for 32 of them would cost milliseconds.
    """
    if len(scores) <= count:
        return [int(index) for index in np.argsort(-scores, kind="stable")]
    cutoff = np.partition(scores, len(scores) - count)[len(scores) - count]
    above = np.flatnonzero(scores > cutoff)
    tied = np.flatnonzero(scores == cutoff)[: count - len(above)]
    chosen = np.sort(np.concatenate([above, tied]))
    return [int(chosen[slot]) for slot in np.argsort(-scores[chosen], kind="stable")]
