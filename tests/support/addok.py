"""A real, throw-away addok server for tests: its own venv, test Redis databases, loopback port."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = ROOT / "scripts" / "ensure-addok.sh"
DATA = ROOT / "tests" / "data" / "addok"
HOST = "127.0.0.1"
_NUMBER_SUFFIX = re.compile(r"_\d{5}(_[^_]*)?$")

# addok's own settings file is Python (exec'd by addok). The values are those of the BAN's addok.conf
# (BaseAdresseNationale/build-addok-bundle: citycode as a field and a filter, addok-france's and addok-fr's
# processors) on top of addok 1.3.2's defaults, with documents kept in Redis instead of addok-sqlite-store.
CONFIG_TEMPLATE = """\
REDIS = {{
    "host": {host!r},
    "port": {port!r},
    "indexes": {{"db": {indexes_db!r}}},
    "documents": {{"db": {documents_db!r}}},
}}
ATTRIBUTION = "BAN"
LICENCE = "ODbL (Ville de Paris), Licence Ouverte (BAN)"
EXTRA_FIELDS = [{{"key": "citycode"}}, {{"key": "oldcitycode"}}, {{"key": "oldcity"}}, {{"key": "district"}}]
FILTERS = ["type", "citycode", "postcode"]
QUERY_PROCESSORS_PYPATHS = [
    "addok.helpers.text.check_query_length",
    "addok_france.extract_address",
    "addok_france.clean_query",
    "addok_france.remove_leading_zeros",
]
PROCESSORS_PYPATHS = [
    "addok.helpers.text.tokenize",
    "addok.helpers.text.normalize",
    "addok_france.glue_ordinal",
    "addok_france.fold_ordinal",
    "addok_france.flag_housenumber",
    "addok.helpers.text.synonymize",
    "addok_fr.phonemicize",
]
SEARCH_RESULT_PROCESSORS_PYPATHS = [
    "addok.helpers.results.match_housenumber",
    "addok_france.make_labels",
    "addok.helpers.results.score_by_importance",
    "addok.helpers.results.score_by_autocomplete_distance",
    "addok.helpers.results.score_by_ngram_distance",
    "addok.helpers.results.score_by_geo_distance",
    "addok.helpers.results.adjust_scores",
]
BATCH_WORKERS = 1
LOG_DIR = {log_dir!r}
"""


class AddokUnavailable(RuntimeError):
    """addok could not be installed or started here."""


def ensure_addok_venv(*, timeout: float = 600) -> Path:
    """Build addok's venv if needed (scripts/ensure-addok.sh: in the machine's cache, or $ADDOK_VENV) and return
    its addok executable."""
    try:
        done = subprocess.run(
            ["bash", str(ENSURE_SCRIPT), "--path"], capture_output=True, text=True, timeout=timeout, env=os.environ
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AddokUnavailable(f"scripts/ensure-addok.sh did not finish: {exc}") from exc
    if done.returncode != 0:
        raise AddokUnavailable(f"scripts/ensure-addok.sh failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1]) / "bin" / "addok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _centre_point(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The housenumber nearest to the mean of a street's numbers: a point that lies on the street."""
    mlon = sum(p["lon"] for p in points) / len(points)
    mlat = sum(p["lat"] for p in points) / len(points)
    return min(points, key=lambda p: (p["lon"] - mlon) ** 2 + (p["lat"] - mlat) ** 2)


def ban_csv_to_addok(path: Path) -> list[dict[str, Any]]:
    """BAN `adresses-XX.csv` rows (`;`-separated) as addok import documents: one per street, numbers inside.

    The layout is the one of the BAN's addok exports (see tests/data/addok/README.md): Paris addresses carry
    their arrondissement's INSEE code, city "Paris" and the arrondissement as `district`.
    """
    streets: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            streets[row["code_insee"], row["nom_voie"]].append(row)
    docs = []
    for rows in streets.values():
        # Address ids are STREET_NNNNN or STREET_NNNNN_rep: the street's id is what comes before the number.
        street_id = _NUMBER_SUFFIX.sub("", rows[0]["id"])
        numbers: dict[str, dict[str, Any]] = {}
        for row in rows:
            numbers[row["numero"] + row["rep"]] = {
                "id": row["id"],
                "x": float(row["x"]),
                "y": float(row["y"]),
                "lon": float(row["lon"]),
                "lat": float(row["lat"]),
            }
        first, centre = rows[0], _centre_point(list(numbers.values()))
        commune = first["nom_commune"]
        is_arrondissement = first["code_insee"][:3] in ("751", "693", "132")
        docs.append(
            {
                "id": street_id,
                "banId": None,
                "type": "street",
                "name": first["nom_voie"],
                "postcode": first["code_postal"],
                "citycode": [first["code_insee"]],
                "city": [commune.split(" ")[0] if is_arrondissement else commune],
                "district": commune if is_arrondissement else None,
                "context": "75, Paris, Île-de-France" if first["code_insee"].startswith("75") else None,
                "lon": centre["lon"],
                "lat": centre["lat"],
                "x": centre["x"],
                "y": centre["y"],
                # BAN weighs a street by its commune and length; the number of known addresses stands in for length.
                "importance": round(0.4 + min(len(numbers), 50) / 500, 5),
                "housenumbers": numbers,
            }
        )
    return docs


def default_documents() -> list[dict[str, Any]]:
    """The test corpus: Paris 11e (from the BAN CSV extract) and a few streets of Nouméa (BAN ndjson as is)."""
    docs = ban_csv_to_addok(DATA / "adresses-paris-11e-extrait.csv")
    with (DATA / "adresses-noumea-extrait.ndjson").open(encoding="utf-8") as handle:
        docs.extend(json.loads(line) for line in handle if line.strip())
    return docs


class AddokServer:
    """One addok HTTP server over its own Redis databases (flushed before and after), on a free loopback port."""

    def __init__(
        self,
        *,
        redis_host: str = HOST,
        redis_port: int = 6379,
        indexes_db: int = 14,
        documents_db: int = 15,
        startup_timeout: float = 60.0,
    ) -> None:
        for db in (indexes_db, documents_db):
            if db not in (13, 14, 15):
                raise ValueError(f"tests may only use Redis databases 13-15, not {db}")
        self.redis_host, self.redis_port = redis_host, redis_port
        self.dbs = tuple(sorted({indexes_db, documents_db}))
        self.indexes_db, self.documents_db = indexes_db, documents_db
        self.port = 0
        self.timings: dict[str, float] = {}
        self._startup_timeout = startup_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT, for AddokGeocoder."""
        return f"http://{HOST}:{self.port}"

    @property
    def workdir(self) -> Path:
        assert self._tmp is not None, "server not started"
        return Path(self._tmp.name)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "ADDOK_CONFIG_MODULE": str(self.workdir / "addok.conf"), "PYTHONWARNINGS": "ignore"}

    def _addok(self, addok: Path, *args: str, timeout: float = 300) -> None:
        try:
            done = subprocess.run(
                [str(addok), *args], env=self._env(), cwd=self.workdir, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise AddokUnavailable(f"addok {' '.join(args)} took more than {timeout:g} s") from exc
        if done.returncode != 0:
            raise AddokUnavailable(f"addok {' '.join(args)} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")

    def flush(self) -> None:
        """Empty this server's Redis databases."""
        for db in self.dbs:
            client = redis.Redis(host=self.redis_host, port=self.redis_port, db=db, socket_timeout=5)
            try:
                client.flushdb()
            finally:
                client.close()

    def start(self, documents: Iterable[dict[str, Any]] | None = None) -> AddokServer:
        """Import the documents (default: the test corpus), build the ngrams, serve, wait until it answers."""
        addok = ensure_addok_venv()
        self._tmp = tempfile.TemporaryDirectory(prefix="guichet-addok-")
        try:
            self._start(addok, documents)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, addok: Path, documents: Iterable[dict[str, Any]] | None) -> None:
        (self.workdir / "addok.conf").write_text(
            CONFIG_TEMPLATE.format(
                host=self.redis_host,
                port=self.redis_port,
                indexes_db=self.indexes_db,
                documents_db=self.documents_db,
                log_dir=str(self.workdir),
            ),
            encoding="utf-8",
        )
        data = self.workdir / "import.ndjson"
        with data.open("w", encoding="utf-8") as handle:
            for doc in documents if documents is not None else default_documents():
                handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
        self.flush()
        started = time.monotonic()
        self._addok(addok, "batch", str(data))
        self._addok(addok, "ngrams")
        self.timings["import_s"] = time.monotonic() - started
        self.port = _free_port()
        self._log = (self.workdir / "serve.log").open("wb")
        started = time.monotonic()
        self._proc = subprocess.Popen(
            [str(addok), "serve", "--host", HOST, "--port", str(self.port)],
            env=self._env(),
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        self.timings["serve_s"] = time.monotonic() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise AddokUnavailable(f"addok serve exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AddokUnavailable(f"addok serve did not answer within {self._startup_timeout:g} s")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return (self.workdir / "serve.log").read_text(encoding="utf-8", errors="replace")[-chars:]
        except (OSError, AssertionError):
            return ""

    def stop(self) -> None:
        """Stop the server, empty its Redis databases, remove its files."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self.flush()
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> AddokServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def running_addok(documents: Iterable[dict[str, Any]] | None = None, **options: Any) -> Iterator[AddokServer]:
    """Generator for fixtures: yields a started server and stops it afterwards."""
    server = AddokServer(**options)
    try:
        yield server.start(documents)
    finally:
        server.stop()
