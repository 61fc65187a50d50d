"""Social Bias Inference Corpus v2 (Sap et al., 2020) -> canonical records.

Aggregation follows the authors' code (their README): per post, the mean of ``offensiveYN`` over the
raw rows, and ``hasBiasedImplication = len(targetStereotype) == 0`` -- so in their files **1 means NO
implied stereotype**. Our labels say what they mean instead:

- ``hasBiasedImplication``: ``implied_bias`` when at least one annotator wrote an implied stereotype,
  else ``no_implied_bias``.
- ``offensiveYN``: the mean of the annotators' 1.0 / 0.5 / 0.0 answers, binned to the nearest answer:
  below 0.25 ``not_offensive``, above 0.75 ``offensive``, in between ``maybe_offensive`` (so the ties at
  exactly 0.25 and 0.75 go to ``maybe_offensive``).
- ``targetMinority``: the groups named by any annotator, normalized (lower case, unique, sorted) and
  joined with ", "; ``none`` when no group was named.

Per-annotator labels are kept as ``annotations`` (one list per task) with the annotators' ids
(``WorkerId``) in ``annotators``, wherever a raw file is used.

Declared attributes (``prepare.attributes``, e.g. ``dataSource``: the platform a post came from) are
columns of the files; in a raw file every row of a post must give the same value (they describe the post,
not the annotator), or prepare stops naming the file, the row and the column.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from annotune.data.datasets.common import Record, dedupe, read_attributes, record_id
from annotune.data.fetch import RawSource
from annotune.data.tasks import normalize_groups
from annotune.errors import DataError

log = logging.getLogger(__name__)

SOURCE = RawSource(
    name="sbic",
    url="https://homes.cs.washington.edu/~msap/social-bias-frames/SBIC.v2.tgz",
    sha256={
        "SBIC.v2.trn.csv": "2f0e813c31176b56027667630472bd3fc8b2e37a585e05e8575488127e56e9ac",
        "SBIC.v2.dev.csv": "502eed536d2026ca7156a5fa137637b873a25d6011a811ff86136609b446c648",
        "SBIC.v2.tst.csv": "3ddc919f269d7b5560cdcb9997075e1976234a0cab6adc00a84c7613470d4f10",
        "SBIC.v2.agg.trn.csv": "d60770d7b1e37fdc8260029ee59c3759ae7329de378c7e7986c528c625a6260f",
        "SBIC.v2.agg.dev.csv": "b8fcf3a992a0de47c41191d00058c659b3e2744e2d051bbbb23d458deb5b35a2",
        "SBIC.v2.agg.tst.csv": "12982a534e60a2275f134d07038d1bfd46b252835f269959ec7ed6216f5ee53a",
        "README.md": "d60d06398ad2ee9b18dad5b6a43d8334cf8cb892265fea6194294499a1452f43",
        "LICENSE": "9ba9550ad48438d0836ddab3da480b3b69ffa0aac7b7878b5a0039e7ab429411",
    },
)

RAW_FILES = {"train": "SBIC.v2.trn.csv", "dev": "SBIC.v2.dev.csv", "test": "SBIC.v2.tst.csv"}
AGG_FILES = {"train": "SBIC.v2.agg.trn.csv", "dev": "SBIC.v2.agg.dev.csv", "test": "SBIC.v2.agg.tst.csv"}
RAW_COLUMNS = ("post", "WorkerId", "offensiveYN", "targetMinority", "targetStereotype")
AGG_COLUMNS = ("post", "offensiveYN", "targetMinority", "hasBiasedImplication")
ANSWERS = {1.0: "offensive", 0.5: "maybe_offensive", 0.0: "not_offensive"}
STRATIFY_TASKS = ("hasBiasedImplication", "offensiveYN")


class SbicDataError(DataError):
    """The SBIC files do not have the columns or values the aggregation needs."""


def offensive_class(mean: float) -> str:
    mean = round(float(mean), 9)  # 0.25 computed as a mean of 0.5 and 0.0 must tie exactly
    if mean < 0.25:
        return "not_offensive"
    if mean > 0.75:
        return "offensive"
    return "maybe_offensive"


def _read(path: Path, columns: tuple[str, ...], attributes: dict[str, str]) -> pd.DataFrame:
    # attributes read as written: their values are parsed by their declared kind, never guessed by pandas
    frame = pd.read_csv(path, dtype={"WorkerId": str, **dict.fromkeys(attributes, str)})
    missing = [c for c in (*columns, *attributes) if c not in frame.columns]
    if missing:
        raise SbicDataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    return frame


def _check_raw_answers(frame: pd.DataFrame, path: Path) -> None:
    bad = frame["offensiveYN"].notna() & ~frame["offensiveYN"].isin(list(ANSWERS))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SbicDataError(
            f"{path}, line {row + 2}: offensiveYN={frame['offensiveYN'].iloc[row]}; "
            f"annotator answers must be one of {sorted(ANSWERS)} or empty"
        )


def aggregate_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """The authors' aggregation, one row per post: mean offensiveYN over rows, sorted unique text fields."""
    text_fields = ["targetMinority", "targetStereotype"]
    raw = raw.copy()
    raw[text_fields] = raw[text_fields].fillna("")
    grouped = raw.groupby("post", as_index=False, sort=True).agg(
        offensiveYN=("offensiveYN", "mean"),
        targetMinority=("targetMinority", lambda x: sorted(filter(None, set(x)))),
        targetStereotype=("targetStereotype", lambda x: sorted(filter(None, set(x)))),
    )
    grouped["hasBiasedImplication"] = (grouped["targetStereotype"].apply(len) == 0).astype(int)
    return grouped


def _annotations(raw: pd.DataFrame) -> dict[str, tuple[dict[str, list[str]], list[str]]]:
    """Per post, one label per annotator (WorkerId), in first-seen annotator order, and the annotators'
    ids (SBIC's anonymized WorkerIds) in the same order: per-annotator agreement needs them."""
    by_post: dict[str, tuple[dict[str, list[str]], list[str]]] = {}
    for post, rows in raw.groupby("post", sort=False):
        labels = {"hasBiasedImplication": [], "offensiveYN": [], "targetMinority": []}
        annotators = []
        for worker, answers in rows.groupby("WorkerId", sort=False):
            annotators.append(str(worker))
            offensive = answers["offensiveYN"].dropna()
            stereotypes = answers["targetStereotype"].fillna("").str.strip()
            groups = ", ".join(answers["targetMinority"].fillna(""))
            labels["hasBiasedImplication"].append("implied_bias" if (stereotypes != "").any() else "no_implied_bias")
            labels["offensiveYN"].append(ANSWERS[float(offensive.iloc[0])] if len(offensive) else None)
            labels["targetMinority"].append(normalize_groups(groups))
        by_post[post] = labels, annotators
    return by_post


def _post_attributes(raw: pd.DataFrame, attributes: dict[str, str], path: Path) -> dict[str, dict]:
    """Per post, its declared attribute values; every row of a post must give the same ones."""
    by_post: dict[str, tuple[dict, int]] = {}
    for index, (post, row) in enumerate(zip(raw["post"], raw[list(attributes)].to_dict("records"), strict=True)):
        if not post.strip():
            continue  # an empty post is dropped (counted), whatever its attributes
        where = f"{path}, line {index + 2}"
        values = read_attributes(row, attributes, where)
        first, first_line = by_post.setdefault(post, (values, index + 2))
        for name in attributes:
            if values[name] != first[name]:
                raise SbicDataError(
                    f"{where}, column {name!r}: {values[name]!r}, but line {first_line} (the same post) has "
                    f"{first[name]!r}; an attribute describes the post, so its rows must agree"
                )
    return {post: values for post, (values, _) in by_post.items()}


def _record(post: str, offensive_mean: float, groups: list[str], has_biased_implication: int) -> Record:
    return {
        "id": record_id(post),
        "text": post,
        "labels": {
            # authors' 1 = no implied stereotype
            "hasBiasedImplication": "no_implied_bias" if int(has_biased_implication) == 1 else "implied_bias",
            "offensiveYN": offensive_class(offensive_mean),
            "targetMinority": normalize_groups(", ".join(groups)),
        },
    }


def records_from_frame(
    frame: pd.DataFrame, source: str, annotations: dict | None, attributes: list[dict] | None = None
) -> tuple[list[Record], dict]:
    """Aggregated rows -> records; posts that cannot be labelled are counted by reason, not lost.
    ``attributes``: each row's declared attribute values, in the frame's order (None: none declared)."""
    records, dropped = [], {"empty_post": 0, "missing_offensiveYN": 0}
    for index, row in enumerate(frame.itertuples(index=False)):
        post = row.post if isinstance(row.post, str) else ""
        if not post.strip():
            dropped["empty_post"] += 1
            continue
        if pd.isna(row.offensiveYN):
            dropped["missing_offensiveYN"] += 1
            continue
        groups = row.targetMinority if isinstance(row.targetMinority, list) else json.loads(row.targetMinority)
        record = _record(post, row.offensiveYN, groups, row.hasBiasedImplication)
        if annotations is not None:
            record["annotations"], record["annotators"] = annotations[row.post]
        if attributes is not None:
            record["attributes"] = attributes[index]
        records.append(record)
    records, dropped["duplicate_post"] = dedupe(records)
    return records, {"source": source, "posts_read": len(frame), "dropped": dropped}


def read_raw_split(path: Path, attributes: dict[str, str] | None = None) -> tuple[list[Record], dict]:
    attributes = attributes or {}
    raw = _read(path, RAW_COLUMNS, attributes)
    _check_raw_answers(raw, path)
    raw["post"] = raw["post"].fillna("")
    agg = aggregate_raw(raw)
    per_post = _post_attributes(raw, attributes, path) if attributes else None
    return records_from_frame(
        agg,
        f"{path.name} (per-annotator, aggregated here)",
        _annotations(raw),
        None if per_post is None else [per_post.get(post) for post in agg["post"]],
    )


def read_agg_split(path: Path, attributes: dict[str, str] | None = None) -> tuple[list[Record], dict]:
    attributes = attributes or {}
    agg = _read(path, AGG_COLUMNS, attributes)
    out_of_range = agg["offensiveYN"].notna() & ~agg["offensiveYN"].between(0, 1)
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range.to_numpy())[0])
        raise SbicDataError(
            f"{path}, line {row + 2}: offensiveYN={agg['offensiveYN'].iloc[row]}; a mean must lie in [0, 1]"
        )
    bad_flag = ~agg["hasBiasedImplication"].isin([0, 1])
    if bad_flag.any():
        row = int(np.flatnonzero(bad_flag.to_numpy())[0])
        raise SbicDataError(
            f"{path}, line {row + 2}: hasBiasedImplication={agg['hasBiasedImplication'].iloc[row]}; expected 0 or 1"
        )
    values = None
    if attributes:  # the rows dropped (counted) below need no attribute values
        labelled = (
            agg["post"].map(lambda post: isinstance(post, str) and bool(post.strip())) & agg["offensiveYN"].notna()
        )
        values = [
            read_attributes(row, attributes, f"{path}, line {index + 2}") if keep else None
            for index, (keep, row) in enumerate(zip(labelled, agg[list(attributes)].to_dict("records"), strict=True))
        ]
    return records_from_frame(agg, f"{path.name} (aggregated by the authors)", None, values)


def _read_split(raw_dir: Path, split: str, attributes: dict[str, str]) -> tuple[list[Record], dict] | None:
    if (raw_dir / RAW_FILES[split]).exists():
        return read_raw_split(raw_dir / RAW_FILES[split], attributes)
    if (raw_dir / AGG_FILES[split]).exists():
        return read_agg_split(raw_dir / AGG_FILES[split], attributes)
    return None


def load_splits(
    raw_dir: Path, attributes: dict[str, str] | None = None
) -> tuple[dict[str, tuple[list[Record], dict]], str]:
    """Official splits where all three exist; otherwise the documented fallback for the partial copy.

    Fallback (no train file): test = the per-annotator dev file aggregated here (held-out posts keep
    their individual annotations), and train + dev are carved from the authors' aggregated test file
    by the caller. Returns the splits read and the name of the layout used.
    """
    attributes = attributes or {}
    taken = [name for name in attributes if name in (*RAW_COLUMNS, *AGG_COLUMNS)]
    if taken:
        raise SbicDataError(
            f"params.yaml: prepare.attributes declares {', '.join(taken)}: SBIC's post, annotator or label "
            "column(s), which no system may take as an input"
        )
    splits = {split: _read_split(raw_dir, split, attributes) for split in ("train", "dev", "test")}
    if all(splits.values()):
        return splits, "official"
    if (raw_dir / RAW_FILES["dev"]).exists() and (raw_dir / AGG_FILES["test"]).exists():
        log.warning(
            "SBIC train files are absent in %s: FALLBACK split -- train+dev carved from %s, test = %s",
            raw_dir,
            AGG_FILES["test"],
            RAW_FILES["dev"],
        )
        return {
            "pool": read_agg_split(raw_dir / AGG_FILES["test"], attributes),
            "test": read_raw_split(raw_dir / RAW_FILES["dev"], attributes),
        }, "fallback"
    present = sorted(p.name for p in raw_dir.glob("*.csv"))
    raise SbicDataError(
        f"{raw_dir}: cannot build SBIC splits from {present or 'no CSV files'}; need the train/dev/test files "
        f"(raw or aggregated), or at least {RAW_FILES['dev']} and {AGG_FILES['test']}"
    )


def stratum(record: Record) -> tuple:
    return tuple(record["labels"][t] for t in STRATIFY_TASKS)
