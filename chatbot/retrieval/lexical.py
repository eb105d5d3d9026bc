"""Ranking by wording: BM25 over stemmed, stopword-free tokens, kept up to date in place.

bm25s tokenizes, but its index is a frozen sparse matrix of precomputed scores: adding or
removing one passage means indexing everything again. So the postings are kept here, per term,
and scores are computed at question time from the current document frequencies and average
length (the same Lucene BM25 as bm25s computes), so that they stay exact after any update.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import bm25s
import numpy as np
from numpy.typing import NDArray

Scores = NDArray[np.float32]
Positions = NDArray[np.int64]

K1, B = 1.5, 0.75  # bm25s's defaults, as the weights of index.py were tuned with

_local = threading.local()


@cache
def _stemmer_module() -> Any:
    # PyStemmer (what bm25s recommends) folds "installing" and "installed" into one term;
    # without it matching still works, only on exact word forms.
    try:
        return importlib.import_module("Stemmer")
    except ImportError:
        return None


def _stemmer() -> Callable[[list[str]], list[str]] | None:
    module = _stemmer_module()
    if module is None:
        return None
    # A PyStemmer object keeps a cache and must not be shared between threads; searches run
    # in worker threads, so each thread gets its own.
    stemmer: Any = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = module.Stemmer("english")
    stem_words: Callable[[list[str]], list[str]] = stemmer.stemWords
    return stem_words


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed word tokens without English stopwords."""
    tokens: list[list[str]] = bm25s.tokenize(
        list(texts),
        stopwords="en",
        stemmer=_stemmer(),
        return_ids=False,
        show_progress=False,
    )
    return tokens


class LexicalIndex:
    """BM25 over passages' match texts, plus how much of a question a passage covers.

    Passages are numbered 0..n-1 like the other parts of the knowledge index; `remove` moves
    the last passage into the freed number, so that score arrays stay dense.
    """

    def __init__(self, texts: Sequence[str] = ()) -> None:
        self._postings: dict[str, dict[int, int]] = {}  # term -> {position: term frequency}
        self._arrays: dict[str, tuple[Positions, Scores]] = {}  # postings as arrays, on demand
        self._counts: list[Counter[str]] = []
        self._lengths = np.zeros(0, dtype=np.float32)
        self._total_length = 0
        self.stemmed = _stemmer() is not None
        if texts:
            self.add(tokenize(texts))

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, corpus: Sequence[Sequence[str]]) -> None:
        """Append tokenized passages (from `tokenize`) after the current ones."""
        start = len(self._counts)
        self._grow(start + len(corpus))
        for position, tokens in enumerate(corpus, start):
            counts = Counter(tokens)
            self._counts.append(counts)
            self._lengths[position] = len(tokens)
            self._total_length += len(tokens)
            for term, frequency in counts.items():
                self._postings.setdefault(term, {})[position] = frequency
                self._arrays.pop(term, None)

    def remove(self, position: int) -> None:
        """Drop the passage at `position`; the last passage takes its number."""
        last = len(self._counts) - 1
        counts = self._counts[position]
        self._total_length -= int(self._lengths[position])
        for term in counts:
            postings = self._postings[term]
            del postings[position]
            if not postings:
                del self._postings[term]
            self._arrays.pop(term, None)
        if position != last:
            moved = self._counts[last]
            for term, frequency in moved.items():
                postings = self._postings[term]
                del postings[last]
                postings[position] = frequency
                self._arrays.pop(term, None)
            self._counts[position] = moved
            self._lengths[position] = self._lengths[last]
        self._counts.pop()
        self._lengths[last] = 0

    def query_terms(self, query: str) -> list[str]:
        """The question's terms as the index sees them."""
        return tokenize([query])[0] if query.strip() else []

    def scores(self, terms: Sequence[str]) -> Scores:
        """BM25 score of every passage for the question's terms (0 for no shared term)."""
        size = len(self._counts)
        scores = np.zeros(size, dtype=np.float32)
        if not size:
            return scores
        average = np.float32(self._total_length / size) or np.float32(1)
        for term in terms:  # a repeated word counts again, as in bm25s
            if term not in self._postings:
                continue
            positions, frequencies = self._postings_arrays(term)
            norms = K1 * ((1 - B) + B * self._lengths[positions] / average)
            scores[positions] += np.float32(self.idf(term)) * frequencies / (norms + frequencies)
        return scores

    def coverage(self, terms: Sequence[str], position: int) -> float:
        """The idf-weighted share of the question's terms that the passage contains."""
        unique = set(terms)
        if not unique:
            return 0.0
        total = sum(self.idf(term) for term in unique)
        found = sum(self.idf(term) for term in unique if term in self._counts[position])
        return found / total

    def idf(self, term: str) -> float:
        """Lucene's idf, as BM25 itself weighs terms; an unseen term weighs as the rarest."""
        documents = len(self._counts)
        frequency = len(self._postings.get(term, ()))
        return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))

    def _postings_arrays(self, term: str) -> tuple[Positions, Scores]:
        arrays = self._arrays.get(term)
        if arrays is None:
            postings = self._postings[term]
            arrays = (
                np.fromiter(postings.keys(), dtype=np.int64, count=len(postings)),
                np.fromiter(postings.values(), dtype=np.float32, count=len(postings)),
            )
            self._arrays[term] = arrays
        return arrays

    def _grow(self, size: int) -> None:
        if size > len(self._lengths):
            # Doubling: a run of single additions costs amortized O(1) each.
            lengths = np.zeros(max(size, 2 * len(self._lengths), 16), dtype=np.float32)
            lengths[: len(self._lengths)] = self._lengths
            self._lengths = lengths
