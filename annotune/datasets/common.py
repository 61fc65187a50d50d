"""Dataset-independent steps of prepare: stable ids, leakage removal, seeded stratified sampling."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from annotune.config import attribute_values
from annotune.errors import DataError

Record = dict


class DatasetError(DataError):
    """A dataset file or declaration that cannot be read as declared; the message names file, line, column."""


def read_attributes(row: dict, attributes: dict[str, str], where: str) -> dict[str, str | float]:
    """A row's declared attribute values (prepare.attributes), or an error naming file, row and column."""
    try:
        return attribute_values(row, attributes)
    except ValueError as exc:
        raise DatasetError(f"{where}, {exc}") from None


def refuse_attributes(attributes: dict[str, str] | None, dataset: str, columns: str) -> None:
    """For a dataset whose files hold nothing beyond the text and its labels: declared attributes are an error."""
    if attributes:
        raise DatasetError(
            f"params.yaml: prepare.attributes declares {', '.join(attributes)}, but the {dataset} files have no "
            f"column besides {columns}; attributes are columns of sbic's files or of your own table (dataset: table)"
        )


def record_text(record: Record) -> str:
    """The text a record is compared on: its text, or its two sentences for a pair."""
    return record["text"] if "text" in record else f"{record['text_a']}\n{record['text_b']}"


def normalize_text(text: str) -> str:
    return " ".join(text.lower().split())


def record_id(text: str) -> str:
    """Stable across runs and machines: a hash of the normalized text."""
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def dedupe(records: list[Record]) -> tuple[list[Record], int]:
    """Keep the first record of each id (posts equal after normalizing case and white space)."""
    seen, kept = set(), []
    for record in records:
        if record["id"] not in seen:
            seen.add(record["id"])
            kept.append(record)
    return kept, len(records) - len(kept)


def remove_leakage(records: list[Record], held_out: list[Record]) -> tuple[list[Record], dict[str, int]]:
    """Drop records whose text occurs in ``held_out``, exactly or after normalizing case and white space."""
    exact = {record_text(r) for r in held_out}
    normalized = {normalize_text(record_text(r)) for r in held_out}
    kept, counts = [], Counter(exact_match=0, normalized_match=0)
    for record in records:
        if record_text(record) in exact:
            counts["exact_match"] += 1
        elif normalize_text(record_text(record)) in normalized:
            counts["normalized_match"] += 1
        else:
            kept.append(record)
    return kept, dict(counts)


def stratified_split(
    records: list[Record], n_first: int, key: Callable[[Record], object], seed: int
) -> tuple[list[Record], list[Record]]:
    """Seeded stratified split: ``n_first`` records (proportional per stratum) and the rest, order kept."""
    if n_first >= len(records):
        return list(records), []
    strata: dict[object, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        strata[key(record)].append(index)
    rng = random.Random(seed)
    quotas = {k: n_first * len(v) / len(records) for k, v in strata.items()}
    take = {k: int(q) for k, q in quotas.items()}
    # Largest remainders get the seats left by rounding down; ties broken by stratum size then name.
    leftover = n_first - sum(take.values())
    for k in sorted(quotas, key=lambda k: (take[k] - quotas[k], -len(strata[k]), str(k)))[:leftover]:
        take[k] += 1
    chosen = set()
    for k in sorted(strata, key=str):
        indices = list(strata[k])
        rng.shuffle(indices)
        chosen.update(indices[: take[k]])
    first = [r for i, r in enumerate(records) if i in chosen]
    rest = [r for i, r in enumerate(records) if i not in chosen]
    return first, rest


def label_distribution(records: Iterable[Record], task: str, set_valued: bool = False) -> dict[str, int]:
    """Records per label; for a set-valued task, records per label of their sets."""
    if set_valued:
        return dict(sorted(Counter(label for r in records for label in r["labels"][task].split(", ")).items()))
    return dict(sorted(Counter(r["labels"][task] for r in records).items()))


def carve_splits(
    records: list[Record],
    fractions: dict[str, float],
    key: Callable[[Record], object],
    seed: int,
    group: Callable[[Record], str] | None = None,
) -> tuple[dict[str, list[Record]], dict]:
    """Carve train / dev / test from one pool: seeded, stratified on ``key``, ``fractions`` of the items (of the
    groups, when ``group`` is given: a group's records all go to one split, the group stratified on its most
    frequent stratum). dev and test get at least one unit each; order is kept within each split."""
    units: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        units[group(record) if group else record["id"]].append(record)
    names = list(units)
    what = "groups" if group else "items"
    n_test = max(1, round(fractions["test"] * len(names)))
    n_dev = max(1, round(fractions["dev"] * len(names)))
    if n_test + n_dev >= len(names):
        raise DatasetError(
            f"prepare: cannot carve train, dev and test from {len(names)} {what}: dev {n_dev} + test {n_test} leave "
            "train nothing; add rows, or lower table.split_fractions"
            + (", or use a finer table.group_column" if group else "")
        )

    def stratum(name: str):
        counts = Counter(str(key(r)) for r in units[name])
        return max(sorted(counts), key=lambda k: counts[k])

    test, rest = stratified_split(names, n_test, stratum, seed)
    dev, train = stratified_split(rest, n_dev, stratum, seed)
    chosen = {"train": set(train), "dev": set(dev), "test": set(test)}
    unit_of = {id(r): (group(r) if group else r["id"]) for r in records}
    carved = {split: [r for r in records if unit_of[id(r)] in chosen[split]] for split in ("train", "dev", "test")}
    stats = {"items": {split: len(carved[split]) for split in carved}}
    if group:
        stats["groups"] = {split: len(chosen[split]) for split in carved}
    return carved, stats
