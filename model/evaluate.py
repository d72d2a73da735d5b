"""Score the reader on labelled images: exact match, per-digit accuracy, CER, coverage at 99.5%
precision, accepted-error at the shipped threshold, a digit confusion table, a risk-coverage plot.

`evaluate_labels` is what `meter-ocr eval LABELS.csv [--crop] [--digits K]` runs; crops go
through `model.read_crops.read_crops` and photos through `model.pipeline.read_images`, the same
code as serving.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.calibrate import DEFAULT_MAX_RISK, coverage_at_risk, risk_coverage
from model.reading import Reading, Status

GAP = "-"  # the confusion table's row/column for inserted/deleted digits


@dataclass
class EvalReport:
    n: int
    exact_match: float
    per_digit_accuracy: float  # label digits read right (Levenshtein alignment)
    cer: float  # edit distance / label digits
    coverage_at_995: float  # largest share that can be accepted with <= 0.5% wrong
    accepted_share: float  # at the model's own threshold
    accepted_error: float  # wrong among those accepted at the model's threshold
    status_counts: dict[str, int]
    confusion: dict[str, dict[str, int]]  # true digit (or GAP) -> read digit (or GAP) -> count
    errors: list[tuple[str, str, str | None, float | None]] = field(default_factory=list)  # (path, label, read, conf)
    confidences: list[float] = field(default_factory=list, repr=False)
    correct: list[bool] = field(default_factory=list, repr=False)
    plot: str | None = None


def align(label: str, read: str) -> list[tuple[str, str]]:
    """Levenshtein alignment -> (true, read) pairs, GAP for a deletion or insertion."""
    n, m = len(label), len(read)
    cost = np.zeros((n + 1, m + 1), np.int32)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (label[i - 1] != read[j - 1]))
    pairs, i, j = [], n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (label[i - 1] != read[j - 1]):
            pairs.append((label[i - 1], read[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            pairs.append((label[i - 1], GAP))
            i -= 1
        else:
            pairs.append((GAP, read[j - 1]))
            j -= 1
    return pairs[::-1]


def score_readings(readings: list[Reading], labels: list[str], paths: list[str] | None = None) -> EvalReport:
    """Readings vs. label strings (same order) -> EvalReport."""
    if len(readings) != len(labels) or not labels:
        raise ValueError(f"need equal, non-empty lists: {len(readings)} readings, {len(labels)} labels")
    paths = paths or [str(i) for i in range(len(labels))]
    confusion: dict[str, dict[str, int]] = {}
    digit_hits = edits = label_digits = 0
    correct = np.zeros(len(labels), bool)
    confidences = np.zeros(len(labels))
    errors = []
    for k, (reading, label) in enumerate(zip(readings, labels)):
        text = reading.reading or ""
        for truth, got in align(label, text):
            confusion.setdefault(truth, {}).setdefault(got, 0)
            confusion[truth][got] += 1
            digit_hits += truth == got
            edits += truth != got
        label_digits += len(label)
        correct[k] = text == label
        confidences[k] = reading.confidence or 0.0
        if not correct[k]:
            errors.append((paths[k], label, reading.reading, reading.confidence))
    accepted = np.array([r.status is Status.ACCEPTED for r in readings])
    statuses = [r.status.value for r in readings]
    return EvalReport(
        n=len(labels),
        exact_match=float(correct.mean()),
        per_digit_accuracy=digit_hits / label_digits,
        cer=edits / label_digits,
        coverage_at_995=coverage_at_risk(confidences, correct, DEFAULT_MAX_RISK),
        accepted_share=float(accepted.mean()),
        accepted_error=float((~correct[accepted]).mean()) if accepted.any() else 0.0,
        status_counts={s: statuses.count(s) for s in sorted(set(statuses))},
        confusion=confusion,
        errors=errors,
        confidences=confidences.tolist(),
        correct=correct.tolist(),
    )


def plot_risk_coverage(confidences, correct, out_png: Path, threshold: float | None = None) -> Path:
    """Write the risk-coverage curve (matplotlib, Agg) to `out_png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds, coverage, risk = risk_coverage(confidences, correct)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(coverage * 100, risk * 100, lw=1.5, label="accept the most confident k")
    ax.axhline(DEFAULT_MAX_RISK * 100, color="red", ls="--", lw=1, label="0.5% error budget")
    if threshold is not None:
        k = int(np.searchsorted(-thresholds, -threshold, side="right"))
        if k:
            ax.plot(coverage[k - 1] * 100, risk[k - 1] * 100, "ko", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("coverage (% accepted)")
    ax.set_ylabel("risk (% of accepted wrong)")
    ax.set_ylim(0, max(2.0, float(risk.max() * 100) * 1.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return Path(out_png)


DEFAULT_MAX_BYTES = 40 * 1024 * 1024  # as the serving defaults (producer.settings)
DEFAULT_MAX_PIXELS = 50_000_000
CHUNK = 256  # images decoded and read per call, bounding memory on large label files


class LabelsError(ValueError):
    """A labels CSV that cannot be scored: no path,label header, a row without a path or label column, or no rows."""


def load_labels(labels_csv: Path) -> list[tuple[Path, str]]:
    """`path,label` CSV (paths relative to the CSV's folder) -> [(absolute path, label digits)]."""
    labels_csv = Path(labels_csv)
    with open(labels_csv, newline="") as f:
        table = csv.DictReader(f)
        missing = {"path", "label"} - set(table.fieldnames or ())
        if missing:
            found = ",".join(table.fieldnames or ()) or "nothing"
            raise LabelsError(f"{labels_csv}: no column {' or '.join(sorted(missing))} "
                             f"(expected a header path,label; found {found})")
        rows = []
        for row in table:
            if row["path"] is None or row["label"] is None:  # a short row leaves its last columns None
                raise LabelsError(f"{labels_csv}: line {table.line_num} has too few columns")
            if not row["path"].strip():
                raise LabelsError(f"{labels_csv}: line {table.line_num} has no path")
            rows.append((labels_csv.parent / row["path"], "".join(ch for ch in row["label"] if ch.isdigit())))
    if not rows:
        raise LabelsError(f"{labels_csv}: no rows (expected columns path,label)")
    return rows


def read_paths(paths: list[Path], models, *, crop: bool, digits: int | None) -> list[Reading]:
    """Decode with the serving guards and read with the serving code, CHUNK images at a time."""
    from model.image_io import ImageRejected, decode_image
    from model.pipeline import DEFAULT_DECODE_GREY, DEFAULT_DECODE_MAX_SIDE, read_images
    from model.profiles import MeterProfile

    profile = MeterProfile(name="eval", digits=digits) if digits else None
    readings: list[Reading] = []
    for start in range(0, len(paths), CHUNK):
        chunk, images, slots = paths[start : start + CHUNK], [], []
        outcomes: list[Reading | None] = [None] * len(chunk)
        for k, path in enumerate(chunk):
            try:
                images.append(decode_image(Path(path).read_bytes(), max_bytes=DEFAULT_MAX_BYTES,
                                           max_pixels=DEFAULT_MAX_PIXELS,
                                           target_max_side=None if crop else DEFAULT_DECODE_MAX_SIDE,
                                           grey=DEFAULT_DECODE_GREY))
                slots.append(k)
            except (OSError, ImageRejected) as exc:
                outcomes[k] = Reading.failed(Status.ERROR, str(exc), models.version)
        for k, reading in zip(slots, read_images(images, models, crop=crop, profile=profile) if images else []):
            outcomes[k] = reading
        readings.extend(outcomes)  # type: ignore[arg-type]
    return readings


def evaluate_labels(labels_csv: Path, models=None, *, model_dir: Path | None = None, crop: bool = False,
                    digits: int | None = None, plot: Path | None = None) -> EvalReport:
    """Read every image of LABELS.csv as serving would and score it. Pass loaded `models` or a
    `model_dir` to load. `plot` writes the risk-coverage PNG there."""
    rows = load_labels(labels_csv)  # a bad CSV fails before the models load
    if models is None:
        from model.runtime import load_models

        if model_dir is None:
            raise ValueError("evaluate_labels needs models or model_dir")
        models = load_models(Path(model_dir))
    readings = read_paths([p for p, _ in rows], models, crop=crop, digits=digits)
    report = score_readings(readings, [label for _, label in rows], [str(p) for p, _ in rows])
    if plot is not None:
        report.plot = str(plot_risk_coverage(report.confidences, report.correct, plot, models.reader.threshold))
    return report


def format_report(report: EvalReport, max_errors: int = 10) -> str:
    """Human-readable summary: the headline rates, statuses, confusion table, worst errors."""
    lines = [
        f"images             {report.n}",
        f"exact match        {report.exact_match:.2%}",
        f"per-digit accuracy {report.per_digit_accuracy:.2%}",
        f"character errors   {report.cer:.2%}",
        f"coverage at 99.5%  {report.coverage_at_995:.2%}",
        f"accepted           {report.accepted_share:.2%} (wrong among accepted: {report.accepted_error:.2%})",
        "statuses           " + ", ".join(f"{k} {v}" for k, v in report.status_counts.items()),
        "confusion (rows: true, columns: read; - = missing/extra digit)",
    ]
    keys = [*"0123456789", GAP]
    lines.append("      " + "".join(f"{k:>6}" for k in keys))
    for truth in keys:
        row = report.confusion.get(truth, {})
        lines.append(f"{truth:>6}" + "".join(f"{row.get(k, 0):>6}" for k in keys))
    for path, label, read, conf in report.errors[:max_errors]:
        lines.append(f"wrong: {path}  label {label}  read {read}  confidence {conf}")
    if report.plot:
        lines.append(f"risk-coverage plot: {report.plot}")
    return "\n".join(lines)
