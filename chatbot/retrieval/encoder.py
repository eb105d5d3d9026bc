"""A BERT sentence encoder in NumPy: the all-MiniLM-L6-v2 forward pass without torch.

It computes what sentence-transformers computes for this model (Transformer, mean Pooling,
Normalize): the same tokenizer, truncation at the model's maximum length, exact (erf) GELU,
an attention mask over the padding, and the mean of the token states under that mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chatbot.retrieval.model_files import ModelFiles, ModelFilesError

Array = NDArray[np.float32]
BATCH_SIZE = 32

# Abramowitz and Stegun 7.1.26: |error| <= 1.5e-7; evaluated in float32, within 1e-6 of math.erf
# (a few float32 steps near 1), far below what moves a GELU output.
_ERF_P = np.float32(0.3275911)
_ERF_A1, _ERF_A2, _ERF_A3, _ERF_A4, _ERF_A5 = (
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_SQRT_HALF = np.float32(np.sqrt(0.5))
_GELU_SLICE = 65_536  # values: 256 kB per temporary


def erf(x: Array) -> Array:
    """The error function, elementwise, to float32 precision (NumPy has none)."""
    magnitude = np.abs(x)
    t = 1 / (1 + _ERF_P * magnitude)
    polynomial = ((((_ERF_A5 * t + _ERF_A4) * t + _ERF_A3) * t + _ERF_A2) * t + _ERF_A1) * t
    result: Array = np.copysign(1 - polynomial * np.exp(-magnitude * magnitude), x)
    return result


def gelu(x: Array) -> Array:
    """BERT's exact GELU, x * Phi(x), not the tanh approximation; computed in place in x."""
    flat = x.reshape(-1)
    # By slices whose temporaries stay in the CPU cache: over a whole batch's activations at once,
    # the dozen elementwise passes of erf cost as much as the layer's matrix products.
    for start in range(0, flat.size, _GELU_SLICE):
        values = flat[start : start + _GELU_SLICE]
        values *= 0.5 * (1 + erf(values * _SQRT_HALF))
    return x


@dataclass(frozen=True, slots=True)
class Encoded:
    """One text's output: token states (special tokens included) and its normalised mean."""

    tokens: Array
    sentence: Array


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: Array  # query, key and value projections side by side: one matmul instead of three
    qkv_bias: Array
    attention_out: Array
    attention_out_bias: Array
    attention_norm: tuple[Array, Array]
    intermediate: Array
    intermediate_bias: Array
    output: Array
    output_bias: Array
    output_norm: tuple[Array, Array]


class SentenceEncoder:
    """The model's weights and tokenizer, loaded once; `encode` is not safe from two threads."""

    def __init__(self, files: ModelFiles) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = files.config
        self.heads = int(config["num_attention_heads"])
        head_size = int(config["hidden_size"]) // self.heads
        self.eps = np.float32(config["layer_norm_eps"])
        try:
            tokenizer = Tokenizer.from_file(str(files.tokenizer))
            weights = {
                name: np.ascontiguousarray(value, dtype=np.float32)
                for name, value in load_file(str(files.weights)).items()
            }
        except Exception as error:  # the tokenizers and safetensors errors have no common base
            raise ModelFilesError(f"{files.path} is damaged ({error})") from None
        # The model's tokenizer.json pads and truncates to 128; sentence-transformers pads to the
        # longest text of the batch and truncates at the model's max_seq_length.
        tokenizer.no_padding()
        tokenizer.enable_truncation(files.max_length)
        self._tokenizer = tokenizer
        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"]
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = _norm(weights, "embeddings.LayerNorm")
        self._layers = [
            _layer(weights, f"encoder.layer.{i}", head_size)
            for i in range(int(config["num_hidden_layers"]))
        ]

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Each text's token states and sentence vector, in the order given."""
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [np.asarray(encoding.ids, dtype=np.int64) for encoding in encodings]
        # Sorted by length, each batch holds texts of similar length and pads little.
        order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
        results: dict[int, Encoded] = {}
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            results.update(zip(batch, self._encode_batch([ids[i] for i in batch]), strict=True))
        return [results[index] for index in range(len(ids))]

    def _encode_batch(self, ids: list[NDArray[np.int64]]) -> list[Encoded]:
        lengths = np.array([len(row) for row in ids])
        width = int(lengths.max())
        mask = np.arange(width)[None, :] < lengths[:, None]
        padded = np.zeros((len(ids), width), dtype=np.int64)
        padded[mask] = np.concatenate(ids)
        states = self._words[padded] + self._positions[:width] + self._token_type
        states = self._layer_norm(states, self._embedding_norm)
        # Padding gets the lowest float as its attention score, as in transformers: weight 0.
        bias = np.where(mask, 0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        for layer in self._layers:
            states = self._layer(states, layer, bias)
        weights = mask[:, :, None].astype(np.float32)
        means = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        sentences = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return [
            Encoded(tokens=states[row, :length], sentence=sentences[row])
            for row, length in enumerate(lengths)
        ]

    def _layer(self, states: Array, layer: _Layer, bias: Array) -> Array:
        # In-place operations where a temporary is ours: a batch's activations are megabytes, and
        # every pass over them costs time of its own.
        batch, width, hidden = states.shape
        flat = states.reshape(batch * width, hidden)
        qkv = flat @ layer.qkv
        qkv += layer.qkv_bias
        heads = qkv.reshape(batch, width, 3, self.heads, hidden // self.heads)
        query, key, value = heads.transpose(2, 0, 3, 1, 4)  # each (batch, heads, width, size)
        scores = query @ key.transpose(0, 1, 3, 2)  # the query weights hold 1/sqrt(size)
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * width, hidden)
        attended = context @ layer.attention_out
        attended += layer.attention_out_bias
        attended += flat
        flat = self._layer_norm(attended, layer.attention_norm)
        inner = flat @ layer.intermediate
        inner += layer.intermediate_bias
        output = gelu(inner) @ layer.output
        output += layer.output_bias
        output += flat
        return self._layer_norm(output, layer.output_norm).reshape(batch, width, hidden)

    def _layer_norm(self, x: Array, norm: tuple[Array, Array]) -> Array:
        """Layer normalisation, in place in x."""
        x -= x.mean(axis=-1, keepdims=True)
        x /= np.sqrt(np.square(x).mean(axis=-1, keepdims=True) + self.eps)
        x *= norm[0]
        x += norm[1]
        return x


def _norm(weights: dict[str, Array], prefix: str) -> tuple[Array, Array]:
    return weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]


def _linear(weights: dict[str, Array], prefix: str) -> tuple[Array, Array]:
    # Stored as (out, in) for torch's x @ W.T; transposed once here, not at every call.
    return np.ascontiguousarray(weights[f"{prefix}.weight"].T), weights[f"{prefix}.bias"]


def _layer(weights: dict[str, Array], prefix: str, head_size: int) -> _Layer:
    query, key, value = [
        _linear(weights, f"{prefix}.attention.self.{p}") for p in ("query", "key", "value")
    ]
    attention_out, attention_out_bias = _linear(weights, f"{prefix}.attention.output.dense")
    intermediate, intermediate_bias = _linear(weights, f"{prefix}.intermediate.dense")
    output, output_bias = _linear(weights, f"{prefix}.output.dense")
    # Attention divides the scores by sqrt(head size): done once here, on the query's weights.
    scale = np.float32(1 / np.sqrt(head_size))
    projections = [(query[0] * scale, query[1] * scale), key, value]
    return _Layer(
        qkv=np.ascontiguousarray(np.concatenate([w for w, _ in projections], axis=1)),
        qkv_bias=np.concatenate([b for _, b in projections]),
        attention_out=attention_out,
        attention_out_bias=attention_out_bias,
        attention_norm=_norm(weights, f"{prefix}.attention.output.LayerNorm"),
        intermediate=intermediate,
        intermediate_bias=intermediate_bias,
        output=output,
        output_bias=output_bias,
        output_norm=_norm(weights, f"{prefix}.output.LayerNorm"),
    )
