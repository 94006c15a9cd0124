"""Loading labelled messages (JSONL, see classifiers/training/DATA_FORMAT.md) for training and evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAINING_DIR = Path(__file__).resolve().parent.parent / "training" / "data"


@dataclass(frozen=True)
class Labelled:
    """One message with its gold category (and, when known, its gold address)."""

    id: str
    channel: str
    subject: str
    text: str
    category: str
    address: dict[str, Any] | None = None
    source_row: str | None = None


def load_jsonl(path: Path) -> list[Labelled]:
    """Read one JSONL file; a bad line raises ValueError naming the file and line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(
                Labelled(
                    id=str(item["id"]),
                    channel=item.get("channel", "email"),
                    subject=item.get("subject") or "",
                    text=item["text"],
                    category=item["category"],
                    address=item.get("address"),
                    source_row=item.get("source_row"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: bad training line ({exc})") from None
    return rows


def training_files(directory: Path = TRAINING_DIR) -> list[Path]:
    """The training files (train_*.jsonl), never the development set."""
    return sorted(directory.glob("train_*.jsonl"))


def dev_file(directory: Path = TRAINING_DIR) -> Path:
    """The development set, written apart from the training data and never trained on."""
    return directory / "dev.jsonl"


def unseen_dev_file(directory: Path = TRAINING_DIR) -> Path:
    """The unseen development set (UNSEEN_DEV.md): written by a writer who never saw the training data; the
    review threshold is chosen on it, never trained or calibrated on."""
    return directory / "unseen_dev.jsonl"


def unseen_test_file(directory: Path = TRAINING_DIR) -> Path:
    """The test set (UNSEEN_TEST2.md): written by a writer who saw no training or development file, looked at once
    when the model and threshold were frozen; never used to choose anything. (The first one, unseen_test.jsonl,
    is now the training file train_former_test.jsonl.)"""
    return directory / "unseen_test2.jsonl"
