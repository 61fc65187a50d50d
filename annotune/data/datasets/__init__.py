"""Dataset adapters -> canonical records (their contract: docs/architecture.md, Data contracts): one module per
dataset."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

from annotune.config import PrepareParams, TableParams
from annotune.data.datasets import goemotions, mrpc, sbic
from annotune.data.datasets.common import (
    Record,
    annotator_sample,
    carve_splits,
    label_distribution,
    remove_leakage,
    stratified_split,
)
from annotune.data.datasets.table import TableAdapter
from annotune.data.io import SPLITS
from annotune.data.tasks import Task
from annotune.errors import DataError, ParamsError

log = logging.getLogger(__name__)

ADAPTERS = {"sbic": sbic, "mrpc": mrpc, "goemotions": goemotions}


def adapter(dataset: str, table: TableParams, tasks: list[Task]):
    """The dataset's adapter: a module (SOURCE, load_splits(raw_dir, attributes), stratum), or for ``table`` the
    declaration."""
    if dataset == "table":
        return TableAdapter(table, tasks)
    if dataset not in ADAPTERS:
        known = ", ".join([*ADAPTERS, "table"])
        raise ParamsError(f"params.yaml: dataset {dataset!r} has no adapter; known: {known}")
    return ADAPTERS[dataset]


def prepare(
    dataset: str, params: PrepareParams, seed: int, tasks: list[Task], table: TableParams, raw_dir: Path
) -> tuple[dict[str, list[Record]], dict]:
    """Read, split, remove test leakage, bound the sizes; every post read is accounted for in the stats. Where
    ``max_test`` bounds the test split, the records it left out are returned as ``pool`` (unlabelled for the
    systems, their gold known) and the test sample's design is in the stats."""
    module = adapter(dataset, table, tasks)
    read, layout = module.load_splits(raw_dir, params.attributes)
    stats: dict = {"dataset": dataset, "layout": layout, "splits": {}}
    if layout == "fallback":
        pool, pool_stats = read["pool"]
        n_dev = round(params.dev_fraction * len(pool))
        dev, train = stratified_split(pool, n_dev, module.stratum, seed)
        stats["fallback"] = (
            f"official train files absent: train and dev carved by post (stratified, seed {seed}, "
            f"dev_fraction {params.dev_fraction}) from {pool_stats['source']}; test = {read['test'][1]['source']}"
        )
        stats["fallback_pool"] = pool_stats | {"carved_to_train": len(train), "carved_to_dev": len(dev)}
        read = {
            "train": (train, {"source": f"carved from {pool_stats['source']}", "posts_read": len(train)}),
            "dev": (dev, {"source": f"carved from {pool_stats['source']}", "posts_read": len(dev)}),
            "test": read["test"],
        }
    if layout == "carved":  # a table declared as one file for all three splits: carved here, seeded
        (pool, pool_stats), fractions = read["pool"], dataclasses.asdict(table.split_fractions)
        grouped = table.group_column is not None
        carved, carve_stats = carve_splits(pool, fractions, module.stratum, seed, module.group_of if grouped else None)
        stats["carve"] = {
            "from": pool_stats,
            "seed": seed,
            "stratified_on": tasks[0].name,
            "fractions": fractions,
            "group_column": table.group_column,
        } | carve_stats
        source = f"carved from {pool_stats['source']}"
        read = {split: (carved[split], {"source": source, "posts_read": len(carved[split])}) for split in SPLITS}

    test = read["test"][0]
    limits = {"train": params.max_train, "dev": params.max_dev, "test": params.max_test}
    out = {}
    for split in SPLITS:
        records, split_stats = read[split]
        if split != "test":
            records, split_stats["removed_overlap_with_test"] = remove_leakage(records, test)
        available = len(records)
        if limits[split] is not None:
            population = records
            if split == "test" and params.test_sampling == "annotators":  # the Alt-Test's 30 items per annotator
                records, sampled_out, split_stats["test_sampling"] = annotator_sample(
                    records, limits[split], params.annotator_target_items, module.stratum, seed
                )
            else:
                records, sampled_out = stratified_split(records, limits[split], module.stratum, seed)
            if (
                split == "test"
            ):  # the unlabelled pool of the estimates (annotune/evaluation/estimate.py), with the sample's design
                out["pool"] = sampled_out
                if params.test_sampling == "stratified":  # the annotator-aware pick is no probability sample
                    split_stats["design"] = sampling_design(population, records, module.stratum)
        split_stats |= {"available": available, "kept": len(records), "sampled_out": available - len(records)}
        split_stats["labels"] = {
            t.name: label_distribution(records, t.name, t.kind == "multilabel") for t in tasks if t.kind != "generation"
        }
        stats["splits"][split] = split_stats
        out[split] = records
        if not records:
            why = _why_empty(split_stats)
            raise DataError(f"prepare: the {split} split of {dataset} is empty after filtering: {why}")
    budget = params.train_budget
    if budget is not None and budget < len(out["train"]):  # a point of the label budget curve (annotune budget)
        # one seed shuffles each stratum once, so the subsets of growing budgets are nested
        out["train"], left_out = stratified_split(out["train"], budget, module.stratum, seed)
        stats["train_budget"] = {"train_budget": budget, "kept": len(out["train"]), "left_out": len(left_out)}
        stats["splits"]["train"]["kept"] = len(out["train"])
        stats["splits"]["train"]["labels"] = {
            t.name: label_distribution(out["train"], t.name, t.kind == "multilabel")
            for t in tasks
            if t.kind != "generation"
        }
    _refuse_one_label(dataset, tasks, stats, params, layout)
    return out, stats


def _refuse_one_label(dataset: str, tasks: list[Task], stats: dict, params: PrepareParams, layout: str) -> None:
    """A binary or multiclass task whose final train split holds fewer than two labels cannot be trained (the
    classifiers die on it, much later): stop here with the labels per split and what to change."""
    for task in tasks:
        if not task.is_classification:
            continue
        counts = {split: stats["splits"][split]["labels"][task.name] for split in SPLITS}
        if len([n for n in counts["train"].values() if n]) >= 2:
            continue
        found = ", ".join(f"{split} {counts[split]}" for split in SPLITS)
        fixes = ["add training rows with another label"]
        if params.max_train is not None:
            fixes.append(f"raise prepare.max_train (now {params.max_train})")
        if dataset == "table":
            fixes.append(f"check table.tasks.{task.name} (its column, its labels or label_columns) against the file")
            if layout == "carved":
                fixes.append("give the file more rows of the rarer labels to carve from")
        raise DataError(
            f"prepare: task {task.name!r} has fewer than two labels in the train split (labels per split: {found}); "
            f"a classifier needs at least two to learn: {'; '.join(fixes)}"
        )


def sampling_design(population: list[Record], sample: list[Record], stratum) -> list[dict]:
    """Per stratum: its records in the population and in the sample, so each sampled record's inclusion
    probability is known (stratified sampling: sample / population of its stratum)."""
    sizes = Counter(str(stratum(r)) for r in population)
    taken = Counter(str(stratum(r)) for r in sample)
    return [{"stratum": key, "population": sizes[key], "sample": taken[key]} for key in sorted(sizes)]


def inclusion_probabilities(sample: list[Record], design: list[dict], stratum) -> dict[str, float]:
    """Each sampled record's probability of having been sampled, from its stratum's row of ``design``."""
    rate = {row["stratum"]: row["sample"] / row["population"] for row in design}
    return {r["id"]: rate[str(stratum(r))] for r in sample}


def _why_empty(split_stats: dict) -> str:
    """What emptied a split, and what to change."""
    overlap = sum((split_stats.get("removed_overlap_with_test") or {}).values())
    if overlap:
        return (
            f"all {overlap} of its posts also occur in the test split; give it a file of its own, declare a split "
            "column (table.split_column), or give train, dev and test the same file to have prepare carve them "
            f"(table.split_fractions) ({split_stats})"
        )
    if split_stats.get("posts_read"):
        return f"every post read was dropped (see dropped): fix those rows or the declaration ({split_stats})"
    return f"no rows were read for it: check its file ({split_stats})"
