"""How the CLI prints jobs and rows: a summary, a table, CSV and JSON lines.

CSV and JSONL carry the same fields as `Reading.to_json_dict` (per-digit confidences as a JSON
string in CSV), so an export parses back to the same rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import TextIO

from model.reading import FINAL_STATUSES

TABLE_COLUMNS = ("status", "reading", "confidence", "reason", "source")


def summary_lines(summary) -> list[str]:
    """A job's summary as short `key: value` lines."""
    counts = dict(summary.counts)
    done = sum(n for status, n in counts.items() if status != "pending")
    per_status = ", ".join(f"{status} {counts.get(status.value, 0)}" for status in FINAL_STATUSES)
    lines = [
        f"job: {summary.job_id}",
        f"source: {summary.source}",
        f"state: {summary.state}",
        f"model: {summary.model_version}",
        f"photos: {done}/{summary.total} done ({per_status}, pending {counts.get('pending', 0)})",
    ]
    if getattr(summary, "profile", None):
        lines.insert(4, f"profile: {summary.profile}")
    for label in ("created_at", "started_at", "finished_at"):
        value = getattr(summary, label, None)
        if value is not None:
            lines.append(f"{label.replace('_at', '')}: {value:%Y-%m-%d %H:%M:%S}")
    return lines


def write_rows(rows: Iterable[dict], out: TextIO, fmt: str) -> int:
    """Write row dicts (`ResultRow.to_json_dict()`) as table, csv or jsonl; returns the count."""
    writer = {"table": _write_table, "csv": _write_csv, "jsonl": _write_jsonl}[fmt]
    return writer(iter(rows), out)


def _write_jsonl(rows: Iterator[dict], out: TextIO) -> int:
    count = 0
    for count, row in enumerate(rows, start=1):
        out.write(json.dumps(row, default=str) + "\n")
    return count


def _write_csv(rows: Iterator[dict], out: TextIO) -> int:
    first = next(rows, None)
    if first is None:
        return 0
    writer = csv.DictWriter(out, fieldnames=list(first), lineterminator="\n")
    writer.writeheader()
    writer.writerow(_flat(first))
    count = 1
    for row in rows:
        writer.writerow(_flat(row))
        count += 1
    return count


def _flat(row: dict) -> dict:
    return {key: json.dumps(value) if isinstance(value, list | dict) else value for key, value in row.items()}


def _write_table(rows: Iterator[dict], out: TextIO) -> int:
    count = 0
    out.write(f"{'status':<10} {'reading':<12} {'conf':>6}  source / reason\n")
    for count, row in enumerate(rows, start=1):
        confidence = row.get("confidence")
        conf = f"{confidence:6.3f}" if isinstance(confidence, float) else f"{'-':>6}"
        detail = row.get("source", "")
        if row.get("reason"):
            detail += f"  ({row['reason']})"
        out.write(f"{row.get('status', ''):<10} {row.get('reading') or '-':<12} {conf}  {detail}\n")
    return count


def parse_csv_rows(text: str) -> list[dict]:
    """The inverse of the CSV export (used by tests and by tools that re-import exports)."""
    rows = []
    for row in csv.DictReader(text.splitlines()):
        rows.append({key: _unflat(key, value) for key, value in row.items()})
    return rows


def _unflat(key: str, value: str):
    if value == "":
        return None
    if key == "digits":
        return json.loads(value)
    return value
