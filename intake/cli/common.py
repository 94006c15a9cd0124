"""What every group of `guichet` subcommands shares: loading the configuration, the "exemples" of --help."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from intake.config import Config, load_config


def load(args: argparse.Namespace) -> Config:
    """The configuration named by --config (or GUICHET_CONFIG, or the shipped one); its path warnings on stderr."""
    from intake.runtime.logs import log_format

    cfg = load_config(args.config)
    for warning in cfg.path_warnings():
        if log_format() == "json":  # `guichet serve` under journald: every line one JSON event
            logging.getLogger("intake.cli").warning("attention — %s", warning)
        else:
            print(f"guichet : attention — {warning}", file=sys.stderr)
    return cfg


def examples(*lines: str) -> dict[str, Any]:
    """Keyword arguments of add_parser giving a subcommand's --help an "exemples" section."""
    return {
        "epilog": "exemples :\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
