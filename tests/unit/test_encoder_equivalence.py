"""The NumPy encoder gives sentence-transformers' embeddings for all-MiniLM-L6-v2.

The only place where sentence-transformers (and torch) are imported: the reference.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from chatbot.retrieval.embedder import Embedder, TextEmbedding
from chatbot.retrieval.model_files import locate_model

LONG_ENGLISH = (
    "Our support team answers every message within one working day, and urgent questions about "
    "orders that have not arrived are handled first. "
) * 20
LONG_MIXED = ("Préférences de livraison, 配送の設定, إعدادات التوصيل, 🚚📦 " * 40).strip()

TEXTS = [
    # Questions a visitor types
    "when are you open?",
    "What are your opening hours?",
    "how do I get my money back?",
    "Can I return a product after 30 days?",
    "what is the weather tomorrow in Berlin?",
    "do you sell car insurance?",
    "can you help me with my tax return?",
    "pricing",
    "hi",
    "?",
    "Is parking free?",
    "HOW DO I RESET MY PASSWORD",
    "how do i embed the widget on my site",
    "talk to a person please",
    "I was charged twice for order #48213, please refund one of them.",
    # Knowledge passages
    "Opening hours: Monday to Friday 9:00-18:00, Saturday 10:00-14:00, closed on Sundays.",
    "Refunds are paid to the original payment method within 5-7 business days of approval.",
    "To install the server, run `pip install chatbot` and then `chatbot serve --demo`.",
    '<script src="https://example.com/widget.js" data-chatbot="demo" async></script>',
    "The JavaScript API: window.Chatbot.open(), window.Chatbot.close(), Chatbot.on('message')",
    "e-mail: support@example.com · phone: +49 30 1234567 · fax: none",
    "Version 2.13.0 fixed CVE-2026-12345 (CVSS 9.8); upgrade with apt-get upgrade.",
    "Line one\nline two\n\n\tindented line three",
    # Empty and blank
    "",
    " ",
    "\n\t  \n",
    # Accents, other Latin scripts
    "Café crème à l'ancienne, s'il vous plaît",
    "Wie lange dauert die Lieferung nach Österreich?",
    "¿Dónde está mi pedido? Llevo esperando dos semanas.",
    "Zażółć gęślą jaźń",
    "Ærøskøbing og Þórshöfn",
    # CJK
    "营业时间是什么时候？",
    "東京の天気はどうですか",
    "환불은 어떻게 받나요?",
    "配送料は無料ですか？送料について教えてください。",
    # Right-to-left
    "مرحبا بالعالم، كيف يمكنني استرداد أموالي؟",
    "שלום, מתי אתם פתוחים?",
    # Emoji and symbols
    "🙂🎉 party time",
    "👍",
    "I ❤️ your product!!! 🚀🚀🚀",
    "→ ★ ∑ ∞ ≈ ≠ ©",
    # Other scripts, mixed
    "Когда вы открыты?",
    "Πότε είστε ανοιχτά;",
    "क्या आप रविवार को खुले हैं?",
    "ราคาเท่าไหร่",
    "Hello 你好 مرحبا Привет 👋",
    # Unusual wordpieces
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "x" * 300,
    "1234567890 3.14159 2026-12-07T17:20:00Z",
    "SELECT * FROM users WHERE id = 1; -- comment",
    "!!!???...,,,;;;:::",
    "\u200b\u200d zero width \ufeff and control \x07 characters",
    # Past the model's 256 tokens: truncated
    LONG_ENGLISH,
    LONG_MIXED,
    " ".join(f"word{i}" for i in range(400)),
    "refund " * 300,
]


@pytest.fixture(scope="module")
def reference() -> Any:
    # The model is local: nothing may be fetched from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The test extra installs the reference: its absence is a failure, not a reason to skip.
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        pytest.fail("the reference is missing: install the test extra (sentence-transformers)")
    return SentenceTransformer(str(locate_model().path), device="cpu")


@pytest.fixture(scope="module")
def ours() -> list[TextEmbedding]:
    # One call: sorting by length, batches of 32 and padding to each batch's longest all happen.
    return Embedder().embed(TEXTS)


def _reference_embeddings(model: Any, texts: list[str]) -> list[TextEmbedding]:
    outputs = model.encode(texts, batch_size=32, output_value=None, show_progress_bar=False)
    embeddings = []
    for output in outputs:
        mask = output["attention_mask"].cpu().numpy().astype(bool)
        tokens = output["token_embeddings"].cpu().numpy()[mask]
        # Without [CLS] and [SEP], unless they are all there is (an empty text).
        tokens = tokens[1:-1] if len(tokens) > 2 else tokens
        tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
        embeddings.append(TextEmbedding(output["sentence_embedding"].cpu().numpy(), tokens))
    return embeddings


def test_the_texts_cover_truncation_empty_text_and_more_than_one_padded_batch(
    reference: Any,
) -> None:
    lengths = [len(reference.tokenizer(text)["input_ids"]) for text in TEXTS]
    assert len(TEXTS) >= 50
    assert max(lengths) > reference.max_seq_length == 256
    assert "" in TEXTS
    assert len(TEXTS) > 32  # two batches, each padded to its own longest text


def test_pooled_and_token_vectors_match_sentence_transformers(
    reference: Any, ours: list[TextEmbedding]
) -> None:
    expected = _reference_embeddings(reference, TEXTS)
    pooled = np.array(
        [mine.vector @ theirs.vector for mine, theirs in zip(ours, expected, strict=True)]
    )
    token_minimums = []
    for text, mine, theirs in zip(TEXTS, ours, expected, strict=True):
        assert mine.tokens.shape == theirs.tokens.shape, text[:60]
        token_minimums.append(float(np.sum(mine.tokens * theirs.tokens, axis=1).min()))
    print(
        f"\nencoder equivalence: {len(TEXTS)} texts, min pooled cosine {pooled.min():.7f} "
        f"({TEXTS[int(pooled.argmin())][:30]!r}), min token cosine {min(token_minimums):.7f}"
    )
    worst = {
        text[:40]: float(cosine)
        for text, cosine in zip(TEXTS, pooled, strict=True)
        if cosine < 0.9999
    }
    assert not worst, f"pooled vectors differ from sentence-transformers': {worst}"
    # Tighter than the pooled bound: GELU's tanh approximation gives token cosines near 0.99998.
    assert min(token_minimums) >= 0.99999


def test_a_text_embeds_the_same_alone_as_in_a_padded_batch(ours: list[TextEmbedding]) -> None:
    embedder = Embedder()
    for index in (0, 23, 31, 55):
        [alone] = embedder.embed([TEXTS[index]])
        assert float(alone.vector @ ours[index].vector) >= 0.99999
