"""Ranking by wording: BM25 (the bm25s library) over stemmed, stopword-free tokens."""

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
    """BM25 over passages' match texts, plus how much of a question a passage covers."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._size = len(texts)
        corpus = tokenize(texts) if texts else []
        self._terms = [frozenset(tokens) for tokens in corpus]
        document_frequency = Counter(term for terms in self._terms for term in terms)
        # Lucene's idf, as BM25 itself weighs terms; an unseen term weighs as the rarest.
        self._idf = {term: _idf(self._size, count) for term, count in document_frequency.items()}
        self._unseen_idf = _idf(self._size, 0)
        self._bm25 = bm25s.BM25()
        if corpus and any(corpus):
            self._bm25.index(corpus, show_progress=False)
        self.stemmed = _stemmer() is not None

    def __len__(self) -> int:
        return self._size

    def query_terms(self, query: str) -> list[str]:
        """The question's terms as the index sees them."""
        return tokenize([query])[0] if query.strip() else []

    def scores(self, terms: Sequence[str]) -> Scores:
        """BM25 score of every passage for the question's terms (0 for no shared term)."""
        known = [term for term in terms if term in self._idf]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def coverage(self, terms: Sequence[str], position: int) -> float:
        """The idf-weighted share of the question's terms that the passage contains."""
        unique = set(terms)
        if not unique:
            return 0.0
        total = sum(self._idf.get(term, self._unseen_idf) for term in unique)
        found = sum(self._idf[term] for term in unique & self._terms[position])
        return found / total


def _idf(documents: int, frequency: int) -> float:
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))
