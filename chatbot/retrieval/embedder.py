"""Sentence embeddings from all-MiniLM-L6-v2, run by the NumPy encoder.

One `Embedder` per process, created at start and passed to whoever needs it: loading the model
reads its weights into memory and takes a noticeable pause, so it happens once, in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chatbot.retrieval.encoder import Encoded, SentenceEncoder
from chatbot.retrieval.model_files import INSTALL_HINT, ModelFilesError, locate_model

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2"
_HEADER = struct.Struct("<4sHI")  # magic (model tag), dimension, token count
_MAGIC = b"ML6a"

Vector = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TextEmbedding:
    """A text's meaning: one pooled unit vector, plus one unit vector per token for MaxSim."""

    vector: Vector
    tokens: Vector

    def to_bytes(self) -> bytes:
        """A compact float16 form to store beside a passage and reuse at the next index build."""
        dimension = int(self.vector.shape[0])
        header = _HEADER.pack(_MAGIC, dimension, int(self.tokens.shape[0]))
        return header + self.vector.astype("<f2").tobytes() + self.tokens.astype("<f2").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextEmbedding | None:
        """The stored embedding, or None when it is damaged or from another model."""
        if len(data) < _HEADER.size:
            return None
        magic, dimension, count = _HEADER.unpack_from(data)
        if magic != _MAGIC or len(data) != _HEADER.size + 2 * dimension * (count + 1):
            return None
        values = np.frombuffer(data, dtype="<f2", offset=_HEADER.size).astype(np.float32)
        return cls(vector=values[:dimension], tokens=values[dimension:].reshape(count, dimension))


def semantic_available(model_dir: str | Path | None = None) -> bool:
    """Whether the model's files are found and whole (configured directory or model package)."""
    try:
        locate_model(model_dir)
    except ModelFilesError:
        return False
    return True


class Embedder:
    """The sentence model, loaded lazily and at most once; safe to share between threads."""

    model_id = MODEL_ID

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self._model_dir = model_dir
        self._model: SentenceEncoder | None = None
        self._load_lock = threading.Lock()
        # One forward pass at a time: Hugging Face fast tokenizers fail ("Already borrowed") when
        # used by two threads at once, and two passes would only share the same cores.
        self._encode_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> SentenceEncoder:
        """Load the model (blocking, a fraction of a second); later calls return it at once."""
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                _limit_blas_threads()
                files = locate_model(self._model_dir)
                model = SentenceEncoder(files)
                log.info("loaded sentence model %s from %s", self.model_id, files.path)
                self._model = model
            return self._model

    async def aload(self) -> None:
        """Load the model in a worker thread."""
        await asyncio.to_thread(self.load)

    def embed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        """Embed texts (blocking): pooled vectors and token vectors from one forward pass."""
        if not texts:
            return []
        model = self.load()
        with self._encode_lock:
            outputs = model.encode(texts)
        return [_from_output(output) for output in outputs]

    async def aembed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        """`embed` in a worker thread, e.g. to store passages' embeddings when they are saved."""
        return await asyncio.to_thread(self.embed, texts)


def _limit_blas_threads() -> None:
    # OpenBLAS's threads spin while they wait for work: beside the server's other work on the
    # same cores, a question took over ten times longer on two threads than on one, and the
    # cosines over 50,000 passages four times the CPU. The limit is per process, so it also
    # covers the semantic index's products.
    try:
        # Imported by name: the package ships no type information.
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
    except ImportError:  # not a dependency: without it, BLAS keeps its default threads
        return
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")


def _from_output(output: Encoded) -> TextEmbedding:
    # [CLS] and [SEP] carry the whole sentence rather than a word: MaxSim is about words.
    tokens = output.tokens[1:-1] if len(output.tokens) > 2 else output.tokens
    return TextEmbedding(vector=_unit(output.sentence), tokens=_unit(tokens))


def _unit(values: Vector) -> Vector:
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    unit: Vector = (values / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def create_embedder(
    *, enabled: bool = True, model_dir: str | Path | None = None
) -> Embedder | None:
    """The process's embedder, or None (lexical search only) when disabled or the model is absent.

    Blocking (it checks the model files, tens of ms): call it from a worker thread.
    """
    if not enabled:
        return None
    try:
        locate_model(model_dir)
    except ModelFilesError as error:
        log.warning("semantic search is off: %s; %s", error, INSTALL_HINT)
        return None
    return Embedder(model_dir)
