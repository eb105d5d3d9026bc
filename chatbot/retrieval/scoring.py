"""How a question's passages are scored and how sure the index is that the best one answers it.

The constants were chosen on the tuning questions in tests/data (never on tests/data/heldout)
with bench/knowledge_calibration.py, which prints the curve they come from.

- fused score = semantic + LEXICAL_WEIGHT * lexical, where semantic is the mean of the pooled
  cosine and the token-level MaxSim, and lexical is BM25 scaled by the question's best score.
  Reciprocal rank fusion was tried first and dropped: it throws the score margins away and gives
  the lexical ranking, weak on paraphrases, as much say as the semantic one. The lexical part
  mostly breaks near-ties.
- confidence, with the model: a logistic on the semantic score, centred where on-topic and
  off-topic questions separate, so that 0.5 is the natural threshold. The margin over the
  second-best entry and the lexical coverage were measured as extra signals and left out: at
  the refusal rate the default threshold is set for (docs/benchmarks.md), they answered no
  more paraphrases right; they only help at stricter settings. Left out as well: how little
  appending the question moves the passage's vector ("absorbed", see docs/benchmarks.md). It
  separates near-misses best of all, but at this operating point it trades right answers for
  refusals, for several times the CPU per question.
- confidence, lexical-only: a logistic on the idf-weighted share of the question's content
  words that the passage contains. Question words and other stop words ("what", "how", "do",
  "you") are not content: on their own they never make a match.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS
from numpy.typing import NDArray

from chatbot.retrieval.lexical import tokenize

LEXICAL_WEIGHT = 0.03
SEMANTIC_MIDPOINT, SEMANTIC_SCALE = 0.32, 0.025
LEXICAL_MIDPOINT, LEXICAL_SCALE = 0.35, 0.05

Scores = NDArray[np.floating[Any]]


def fused_scores(semantic: Scores, lexical: Scores) -> Scores:
    """The ranking score of passages from their semantic and scaled lexical scores."""
    fused: Scores = semantic + LEXICAL_WEIGHT * lexical
    return fused


def semantic_confidence(semantic: float) -> float:
    """How likely (0 to 1) a passage with this semantic score answers the question."""
    return _logistic(semantic, SEMANTIC_MIDPOINT, SEMANTIC_SCALE)


def lexical_confidence(coverage: float) -> float:
    """How likely (0 to 1) a passage covering this share of the content words answers it."""
    return _logistic(coverage, LEXICAL_MIDPOINT, LEXICAL_SCALE) if coverage > 0 else 0.0


def content_terms(terms: Sequence[str]) -> list[str]:
    """The question's terms without question words and other stop words."""
    ignored = _question_words()
    return [term for term in terms if term not in ignored]


@cache
def _question_words() -> frozenset[str]:
    # Stemmed as the index stems, so that "does" and "doing" are dropped as "doe" and "do".
    words = list(STOPWORDS_EN_PLUS)
    return frozenset(words) | frozenset(term for terms in tokenize(words) for term in terms)


def _logistic(value: float, midpoint: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-(value - midpoint) / scale))
