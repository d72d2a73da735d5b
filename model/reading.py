"""What a photo becomes: the typed contract shared by the model, the workers and the results DB.

No TensorFlow, no OpenCV here: the producer and the results database import this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Final state of one photo. PENDING exists only in the results DB, before a worker ran."""

    PENDING = "pending"
    ACCEPTED = "accepted"  # trusted without a person (<= 0.5% wrong on held-out data)
    REVIEW = "review"  # a reading exists but a person must confirm it
    UNREADABLE = "unreadable"  # no legible counter: blank, dark, blurred, not found -> re-shoot
    ERROR = "error"  # could not be processed at all: missing, not an image, too large


FINAL_STATUSES = (Status.ACCEPTED, Status.REVIEW, Status.UNREADABLE, Status.ERROR)


@dataclass(frozen=True)
class DigitConfidence:
    digit: str
    confidence: float


@dataclass(frozen=True)
class Reading:
    """The outcome for one photo. `reading` holds digits only, leading zeros kept."""

    status: Status
    reading: str | None = None
    confidence: float | None = None
    reason: str | None = None
    digits: tuple[DigitConfidence, ...] = field(default_factory=tuple)
    model_version: str | None = None
    value: str | None = None  # formatted with the profile's decimals, e.g. "00429.17"

    def to_json_dict(self, source: str) -> dict:
        """The `--json` line of `meter-ocr read` and the `jsonl` export (DESIGN.md)."""
        row = asdict(self)
        row["status"] = self.status.value
        row["digits"] = [asdict(d) for d in self.digits]
        return {"source": source, **row}

    @classmethod
    def failed(cls, status: Status, reason: str, model_version: str | None = None) -> Reading:
        return cls(status=status, reason=reason, model_version=model_version)
