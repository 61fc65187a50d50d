"""predict@<task>-<system>: an LLM system's predictions on the test split.

Systems: ``qlora`` (the task's adapter on the quantized base), ``zero_shot`` and ``few_shot``
(the base LLM prompted, no training). Classification: a probability for every allowed label (scored,
never parsed). Generation: greedy decoding, normalized like the gold. Beside the predictions,
``<system>.runtime.json``: the resolved device / precision and the run's memory footprint.
"""

import argparse
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.io import read_json, read_jsonl, write_json, write_jsonl
from annotune.models import Runtime, inference_footprint, load_causal_lm, load_tokenizer, resolve_runtime
from annotune.prompts import SimilarExemplars, prompt_ids, stratified_exemplars
from annotune.scoring import llm_predictions
from annotune.training import load_adapter

SYSTEMS = ("qlora", "zero_shot", "few_shot")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--adapter", type=Path, help="adapter folder (qlora)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    rows = read_jsonl(args.data / "test.jsonl")
    prompting = params.prompting
    if args.system == "qlora":
        trained = read_json(args.adapter / "annotune.json")
        runtime = Runtime(**trained["runtime"])  # predict exactly as the adapter was trained
        model = load_adapter(args.base, args.adapter, runtime, trained["qlora"]["double_quant"])
        tokenizer = load_tokenizer(args.adapter)
        max_input = trained["qlora"]["max_input_tokens"]
        shots = lambda row: []  # noqa: E731
    else:
        runtime = resolve_runtime(prompting.device, prompting.compute_dtype, prompting.quantization)
        model, tokenizer = load_causal_lm(args.base, runtime).eval(), load_tokenizer(args.base)
        max_input = prompting.max_input_tokens
        shots = exemplar_chooser(args.system, read_jsonl(args.data / "train.jsonl"), prompting, params.seed)
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], max_input, shots(r))[0] for r in rows]
    predictions = llm_predictions(
        task, model, tokenizer, rows, prompts, params.predict.batch_size, params.predict.max_new_tokens
    )
    write_jsonl(args.out, predictions)
    footprint = inference_footprint(model, runtime)
    write_json(args.out.with_suffix(".runtime.json"), {"runtime": vars(runtime), "footprint": footprint})


def exemplar_chooser(system: str, train: list[dict], prompting, seed: int):
    if system == "zero_shot" or prompting.shots == 0:
        return lambda row: []
    if prompting.selection == "stratified":
        fixed = stratified_exemplars(train, prompting.shots, seed)
        return lambda row: fixed
    similar = SimilarExemplars(train)
    return lambda row: similar(row, prompting.shots)


if __name__ == "__main__":
    cli.run(main)
