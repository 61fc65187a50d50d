"""Shared fixtures: a tiny random Llama with a tokenizer trained on fixture text (seconds, no download)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest

from tests.helpers import fake_hub_cache

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

FIXTURE_TEXT = [
    "Does this social media post imply a stereotype or biased statement about a group of people?",
    "Could this social media post be considered offensive, disrespectful or toxic to anyone?",
    "Which group or groups of people does this social media post target or stereotype?",
    "Answer with one of: yes, no, maybe. Answer with the group names separated by commas, or none.",
    "women, black folks, jewish folks, muslim folks, immigrants, gay men, none",
    "I love my neighbours and their dogs.",
    "Those people are all lazy and stupid, typical of them.",
    "What a beautiful day at the beach with friends.",
    "Go back to where you came from, nobody wants you here.",
]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(chat_template: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(FIXTURE_TEXT * 5, trainers.BpeTrainer(vocab_size=400, special_tokens=specials))
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<pad>", bos_token="<|im_start|>"
    )
    if chat_template:
        tokenizer.chat_template = CHATML
    return tokenizer


def make_tiny_llama(folder: Path, chat_template: bool = True, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tokenizer(chat_template)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture
def offline_hub(tmp_path, tiny_llama, monkeypatch):
    """huggingface_hub (and transformers through it) offline, on a cache holding org/tiny."""
    import huggingface_hub.constants as constants

    model = tmp_path / "upstream"
    shutil.copytree(tiny_llama, model)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return fake_hub_cache(tmp_path / "hub", model)


@pytest.fixture
def shared_sbic() -> Path:
    folder = SHARED_DATA / "sbic"
    if not (folder / "SBIC.v2.dev.csv").exists():
        pytest.skip(f"real SBIC data not found at {folder} (../shared/data is absent on this machine)")
    return folder


@pytest.fixture(autouse=True)
def checkpoints_in_tmp(tmp_path, monkeypatch):
    """Training checkpoints (normally under ~/.cache/annotune) stay inside each test's folder."""
    monkeypatch.setenv("ANNOTUNE_CHECKPOINTS", str(tmp_path / "checkpoints"))


@contextlib.contextmanager
def on_gpu(bf16: bool, name: str = "NVIDIA A100-SXM4-80GB", free_gb: float = 80.0):
    """A machine with one CUDA GPU (bitsandbytes assumed working on it)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("torch.cuda.is_available", return_value=True))
        stack.enter_context(mock.patch("torch.cuda.is_bf16_supported", return_value=bf16))
        stack.enter_context(mock.patch("torch.cuda.get_device_name", return_value=name))
        stack.enter_context(mock.patch("torch.cuda.mem_get_info", return_value=(free_gb * 1e9, free_gb * 1e9)))
        stack.enter_context(mock.patch("annotune.systems.models.bitsandbytes_problem", return_value=None))
        yield


def make_tiny_bert(folder: Path, texts: list[str], **sizes) -> Path:
    """A random BERT with a WordPiece tokenizer over the words of ``texts`` (seconds, no download); ``sizes`` override
    the config's hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer, pre_tokenizer = normalizers.BertNormalizer(), pre_tokenizers.BertPreTokenizer()
    # the vocabulary is built here, sorted, rather than by the WordPiece trainer, whose order of equally frequent
    # tokens changes from one call to the next (a flaky test came of it): every word of the texts, every character
    words = {word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))}
    characters = sorted({character for word in words for character in word})
    vocabulary = [*specials, *characters, *(f"##{c}" for c in characters), *sorted(words - set(characters))]
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    shape = dict(
        hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128
    )
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **(shape | sizes))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
