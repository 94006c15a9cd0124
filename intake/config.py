"""The town's configuration: one typed schema, validated at start, with errors that name the bad key."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from intake.phones import known_region
from intake.vocab import ReportStatus

DEFAULT_PIPELINE = (
    "parse",
    "screen",
    "optout",
    "transcript",
    "thread",
    "thread_sms",
    "file",
    "media",
    "classify",
    "relocate",
    "locate",
    "dedupe",
    "triage",
    "route",
    "confirm",
    "ask_location",
)
# Metres within which two reports of a category are the same problem (a lamp post vs. a dumped mattress).
DEDUPE_RADII = {
    "eclairage": 50.0,
    "objets_abandonnes": 150.0,
    "proprete": 100.0,
    "graffitis": 30.0,
    "voirie": 50.0,
    "mobilier_urbain": 30.0,
    "vegetaux": 50.0,
    "vehicules": 30.0,
    "eau": 100.0,
    "activites_commerciales": 50.0,
    "default": 50.0,
}
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Strict):
    """A secret read from an environment variable or a file, never written in config.yaml."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if not self.env and not self.file:
            raise ValueError("give `env` (variable name) or `file` (path)")
        return self

    def reveal(self) -> str | None:
        """Return the secret's value, or None when the variable or file is absent."""
        if self.env and os.environ.get(self.env):
            return os.environ[self.env]
        if self.file and Path(self.file).is_file():
            return Path(self.file).read_text(encoding="utf-8").strip()
        return None


class Town(_Strict):
    name: str
    insee_codes: list[Annotated[str, Field(pattern=r"^(\d{5}|2[AB]\d{3})$")]] = Field(min_length=1)
    postcodes: list[Annotated[str, Field(pattern=r"^\d{5}$")]] = Field(min_length=1)
    public_url: str = "http://localhost:8000"
    mail_domain: str = "guichet.localhost"
    own_domains: list[str] = Field(default_factory=list)
    timezone: str = "Europe/Paris"
    phone_region: str = "FR"

    @field_validator("phone_region")
    @classmethod
    def _known_phone_region(cls, value: str) -> str:
        if not known_region(value):
            raise ValueError(
                f"région téléphonique inconnue {value!r} : un code de région à deux lettres est attendu "
                "(FR, GF, RE, GP, MQ, YT, PM…)"
            )
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Paris, America/Cayenne)") from None
        return value

    def local(self, moment: datetime) -> datetime:
        """A moment in the town's time zone (naive values from SQLite are UTC)."""
        from zoneinfo import ZoneInfo

        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(self.timezone))


class Storage(_Strict):
    root: str = "var/storage"
    spool: str = "var/spool"
    max_attachments: int = Field(default=20, ge=0, le=200)
    max_attachment_mb: float = Field(default=15, gt=0, le=200)
    max_image_megapixels: float = Field(default=50, gt=0, le=500)


class OAuth2(_Strict):
    """Tokens obtained and refreshed by Guichet for XOAUTH2 (Microsoft 365, Gmail) instead of a fixed token."""

    provider: Literal["microsoft", "google", "other"] = "microsoft"
    # client_credentials: the application's own right on the mailbox (Microsoft 365, IMAP.AccessAsApp);
    # refresh_token: a user's consent given once (Gmail, or Microsoft 365 delegated).
    flow: Literal["client_credentials", "refresh_token"] = "client_credentials"
    tenant: str | None = None  # Microsoft 365: the directory (tenant) id or domain
    client_id: str = Field(min_length=1)
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    token_url: str | None = None  # default: the provider's token endpoint
    scope: str | None = None  # default: the provider's IMAP scope for the flow

    @model_validator(mode="after")
    def _complete(self) -> OAuth2:
        if self.flow == "client_credentials" and self.client_secret is None:
            raise ValueError(
                "oauth2.client_secret : requis pour le flux client_credentials ({env: VAR} ou {file: CHEMIN})"
            )
        if self.flow == "refresh_token" and self.refresh_token is None:
            raise ValueError("oauth2.refresh_token : requis pour le flux refresh_token ({env: VAR} ou {file: CHEMIN})")
        if self.provider == "google" and self.flow != "refresh_token":
            raise ValueError("oauth2.flow : Gmail n'accepte que refresh_token (pas de client_credentials pour IMAP)")
        if self.provider == "microsoft" and not self.tenant and not self.token_url:
            raise ValueError("oauth2.tenant : requis pour Microsoft 365 (identifiant ou domaine de l'annuaire)")
        if self.provider == "other" and not self.token_url:
            raise ValueError("oauth2.token_url : requis pour un fournisseur other")
        return self


class Mailbox(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    role: Literal["public", "reception"] = "public"
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True
    starttls: bool = False
    ssl_verify: bool = True
    ca_file: str | None = None
    username: str
    # The mailbox's email address (citizens write to it; the default smtp.reply_to): the username when it is one.
    address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    password: Secret | None = None
    oauth2_token: Secret | None = None
    oauth2: OAuth2 | None = None  # tokens obtained and refreshed by Guichet (docs/messageries.md)
    folder: str = "INBOX"
    after_store: Literal["move", "flag"] = "move"
    processed_folder: str = "Traités"
    batch_size: int = Field(default=50, ge=1, le=1000)
    poll_interval: int = Field(default=60, ge=5, le=86400)
    idle: bool = True
    timeout: float = Field(default=30.0, gt=0, le=300)

    @property
    def email_address(self) -> str | None:
        """The address citizens write to: `address`, else the username when it is an email address."""
        return self.address or (self.username if "@" in self.username else None)

    @model_validator(mode="after")
    def _auth(self) -> Mailbox:
        if self.password is None and self.oauth2_token is None and self.oauth2 is None:
            raise ValueError("give `password`, `oauth2_token` (each as {env: VAR} or {file: PATH}) or `oauth2`")
        return self


class Smtp(_Strict):
    backend: Literal["smtp", "console"] = "console"
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: Secret | None = None
    from_address: str
    from_name: str = "Mairie"
    # Where citizens' answers go (Reply-To of every mail to a citizen); default: the first public mailbox's address.
    reply_to: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    timeout: float = Field(default=20.0, gt=0, le=120)


class Category(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: str
    service: str


class Service(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    name: str
    emails: list[str] = Field(default_factory=list)  # the service's referents
    notify: Literal["immediate", "digest", "none"] = "immediate"  # how referents hear of routed reports
    work_order_pdf: bool = False  # attach the work order (PDF) to the referents' email of each report


class StatusMessage(_Strict):
    """What a citizen receives: email subject and body, and the SMS/WhatsApp text."""

    subject: str
    body: str
    sms: str


STATUS_CODES = tuple(s.value for s in ReportStatus)
DEFAULT_STATUS_LABELS = {
    "nouveau": "Nouveau",
    "a_qualifier": "À qualifier",
    "transmis": "Transmis",
    "en_cours": "En cours",
    "resolu": "Résolu",
    "rejete": "Rejeté",
}
_SIGN = "\n\nSuivre votre signalement : {{ status_url }}\n{{ town }}\n"
DEFAULT_STATUS_MESSAGES = {
    "transmis": StatusMessage(
        subject="Votre signalement n° {{ tracking_number }} a été transmis au service {{ service }}",
        body=(
            "Bonjour,\n\nVotre signalement n° {{ tracking_number }} ({{ category }}) a été transmis au service "
            "{{ service }}.{% if note %}\n\n{{ note }}{% endif %}" + _SIGN
        ),
        sms="Mairie : votre signalement n° {{ tracking_number }} a été transmis au service {{ service }}.",
    ),
    "en_cours": StatusMessage(
        subject="Votre signalement n° {{ tracking_number }} est en cours de traitement",
        body=(
            "Bonjour,\n\nLe service {{ service }} a commencé à traiter votre signalement n° "
            "{{ tracking_number }} ({{ category }}).{% if note %}\n\n{{ note }}{% endif %}" + _SIGN
        ),
        sms="Mairie : votre signalement n° {{ tracking_number }} est en cours de traitement.",
    ),
    "resolu": StatusMessage(
        subject="Votre signalement n° {{ tracking_number }} est résolu",
        body=(
            "Bonjour,\n\nVotre signalement n° {{ tracking_number }} ({{ category }}) est résolu."
            "{% if note %}\n\n{{ note }}{% endif %}\n\nMerci de votre aide." + _SIGN
        ),
        sms="Mairie : votre signalement n° {{ tracking_number }} est résolu. Merci de votre aide.",
    ),
    "rejete": StatusMessage(
        subject="Votre signalement n° {{ tracking_number }} ne sera pas traité par la mairie",
        body=(
            "Bonjour,\n\nVotre signalement n° {{ tracking_number }} ({{ category }}) ne sera pas traité par nos "
            "services. Motif : {{ reason }}.{% if note %}\n\n{{ note }}{% endif %}" + _SIGN
        ),
        sms="Mairie : votre signalement n° {{ tracking_number }} ne sera pas traité. Motif : {{ reason }}.",
    ),
}


class RejectReason(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: str


class Statuses(_Strict):
    """Labels agents and citizens read, which changes tell the citizen, and the reasons for a rejection."""

    labels: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_STATUS_LABELS))
    notify: list[str] = Field(default_factory=lambda: ["transmis", "en_cours", "resolu", "rejete"])
    reject_reasons: list[RejectReason] = Field(
        default_factory=lambda: [
            RejectReason(code="hors_competence", label="hors compétence de la commune"),
            RejectReason(code="doublon", label="doublon d'un signalement déjà enregistré"),
            RejectReason(code="domaine_prive", label="problème situé sur le domaine privé"),
            RejectReason(code="deja_traite", label="problème déjà traité"),
            RejectReason(code="non_fonde", label="signalement non fondé ou incomplet"),
        ],
        min_length=1,
    )

    @field_validator("labels", "notify")
    @classmethod
    def _known(cls, value: Any) -> Any:
        unknown = sorted(set(value) - set(STATUS_CODES))
        if unknown:
            raise ValueError(f"unknown status {', '.join(unknown)} (known: {', '.join(STATUS_CODES)})")
        return value

    def label(self, code: str) -> str:
        """The configured label of a status, else its default one."""
        return self.labels.get(code) or DEFAULT_STATUS_LABELS.get(code, code)

    def reason_label(self, code: str | None) -> str:
        """The label of a rejection reason code (the code itself when unknown)."""
        return next((r.label for r in self.reject_reasons if r.code == code), code or "")


class RouteRule(_Strict):
    """Send reports of `category` (or any, with "*") in `zone` to `service`."""

    category: str = "*"
    zone: str
    service: str


class Routing(_Strict):
    """Zones of the commune and the rules that route a category in a zone to another service than its default."""

    zones_file: str | None = None  # GeoJSON FeatureCollection of (Multi)Polygons
    zone_property: str = "code"  # feature property holding the zone's code
    zone_name_property: str = "nom"
    rules: list[RouteRule] = Field(default_factory=list)
    auto_transmit: bool = True  # a confident, placed report goes straight to "transmis"
    digest_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "07:30"


class AskLocation(_Strict):
    enabled: bool = True
    # how long an answer from the same phone number threads onto the question
    answer_window_hours: int = Field(default=72, ge=1, le=720)


# "répondez (simplement) à ce message", "répondre à ce courriel": the citizen is asked to answer the mail itself.
ASKS_FOR_REPLY = re.compile(
    r"r[ée]pond(?:ez|re|ant)\s+(?:simplement\s+|directement\s+)?(?:à|a)\s+ce\s+"
    r"(?:message|courriel|mail|e-mail)",
    re.IGNORECASE,
)
TOWN_VARIABLES = frozenset({"town"})
CONFIRMATION_VARIABLES = frozenset(
    {"tracking_number", "town", "subject", "summary", "received_at", "attachments", "status_url", "privacy_url"}
)
STATUS_VARIABLES = frozenset(
    {"tracking_number", "town", "category", "service", "status", "note", "reason", "status_url"}
)
ASK_LOCATION_VARIABLES = frozenset({"tracking_number", "town", "category", "location_url", "status_url"})
REFERENT_VARIABLES = frozenset(
    {"tracking_number", "category", "address", "summary", "report_url", "service", "field_url"}
)
DIGEST_VARIABLES = frozenset({"service", "day", "reports"})


def _template_line(exc: BaseException) -> int | None:
    """The template line where rendering failed (Jinja2 rewrites tracebacks onto the template's lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    """A template compiled once per process (every load of a configuration checks the same sources)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined)
    return env.from_string(source)


def render_sample(key: str, source: str, values: dict[str, Any]) -> str:
    """Compile and render one template with sample values; raise ValueError naming the key, line and cause."""
    from jinja2 import TemplateSyntaxError, UndefinedError

    try:
        text: str = _compiled(source).render(values)
        return text
    except TemplateSyntaxError as exc:
        raise ValueError(f"{key}, ligne {exc.lineno} du modèle : syntaxe invalide ({exc.message})") from None
    except UndefinedError as exc:
        where = _template_line(exc)
        known = ", ".join(sorted(values))
        raise ValueError(
            f"{key}{f', ligne {where} du modèle' if where else ''} : variable inconnue "
            f"({exc.message}) ; variables disponibles : {known}"
        ) from None
    except Exception as exc:  # a filter or an operation on the wrong type: the template, not the town's data
        where = _template_line(exc)
        raise ValueError(
            f"{key}{f', ligne {where} du modèle' if where else ''} : le modèle échoue au rendu "
            f"({type(exc).__name__} : {exc})"
        ) from None


_SCHEME_HINTS = {
    "postgres": "« postgres:// » n'est pas un nom que SQLAlchemy connaît : écrire postgresql+psycopg://utilisateur@hôte/base",
    "mysql": "MySQL n'est pas pris en charge : SQLite (sqlite:///var/guichet.db) ou PostgreSQL "
    "(postgresql+psycopg://utilisateur@hôte/base)",
    "mariadb": "MariaDB n'est pas pris en charge : SQLite (sqlite:///var/guichet.db) ou PostgreSQL "
    "(postgresql+psycopg://utilisateur@hôte/base)",
}
_DRIVERS = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}


def check_database_url(url: str, *, base_dir: Path) -> None:
    """Refuse a database URL Guichet cannot use, in French: unknown scheme or driver, SQLite in a missing folder.

    A relative SQLite path is read from the config file's folder; its folder may be missing only under that
    folder's var/ (created at start): anywhere else a typo would silently create a new, empty database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shown = url.split("@")[-1] if "@" in url else url  # never echo a password
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"database_url : adresse illisible {shown!r} ; attendu sqlite:///var/guichet.db ou "
            "postgresql+psycopg://utilisateur@hôte/base"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in _SCHEME_HINTS:
        raise ValueError(f"database_url : {_SCHEME_HINTS[backend]}")
    if backend not in _DRIVERS:
        raise ValueError(
            f"database_url : base {backend!r} non prise en charge ; SQLite (sqlite:///chemin) ou "
            "PostgreSQL (postgresql+psycopg://utilisateur@hôte/base)"
        )
    if driver not in _DRIVERS[backend]:
        raise ValueError(
            f"database_url : pilote {driver!r} non installé ; écrire "
            f"{'postgresql+psycopg' if backend == 'postgresql' else 'sqlite'}://…"
        )
    if backend == "postgresql":
        if not parsed.host and not parsed.query.get("host"):
            raise ValueError(
                f"database_url : hôte manquant dans {shown!r} (postgresql+psycopg://utilisateur@hôte/base)"
            )
        if not parsed.database:
            raise ValueError(
                f"database_url : nom de base manquant dans {shown!r} (postgresql+psycopg://utilisateur@hôte/base)"
            )
        return
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return
    path = Path(database) if Path(database).is_absolute() else (base_dir / database).resolve()
    var = (base_dir / "var").resolve()
    if path.is_dir():
        raise ValueError(
            f"database_url : {path} est un dossier ; donner le chemin du fichier de la base (sqlite:///var/guichet.db)"
        )
    if not path.parent.is_dir() and not path.parent.is_relative_to(var):
        raise ValueError(
            f"database_url : le dossier {path.parent} n'existe pas ; le créer (mkdir -p "
            f"{path.parent}) ou corriger le chemin (un chemin relatif part du dossier de config.yaml, "
            f"{base_dir})"
        )


class Templates(_Strict):
    confirmation_subject: str = "Votre signalement n° {{ tracking_number }} a bien été reçu"
    confirmation_body: str
    sms_confirmation: str = (
        "Mairie : votre signalement n° {{ tracking_number }} est bien enregistré. Suivi : {{ status_url }}"
    )
    sms_stopped: str = "Mairie : vous ne recevrez plus de SMS. Envoyez START pour les réactiver."
    sms_started: str = "Mairie : les SMS sont réactivés pour ce numéro."
    # One message per status the citizen is told about (statuses.notify); email subject/body and SMS text.
    status: dict[str, StatusMessage] = Field(default_factory=lambda: dict(DEFAULT_STATUS_MESSAGES))
    # The one question asked when a report has no usable location.
    ask_location: StatusMessage = StatusMessage(
        subject="Signalement n° {{ tracking_number }} : où se trouve le problème ?",
        body=(
            "Bonjour,\n\nNous avons bien reçu votre signalement n° {{ tracking_number }}, mais nous ne parvenons "
            "pas à le situer.\nPourriez-vous répondre à ce message en indiquant l'adresse précise (numéro et "
            "rue), ou placer le problème sur la carte :\n{{ location_url }}\n\nMerci,\n{{ town }}\n"
        ),
        sms=(
            "Mairie : où se trouve le problème signalé (n° {{ tracking_number }}) ? Répondez avec l'adresse ou "
            "placez-le sur la carte : {{ location_url }}"
        ),
    )
    # Email to a service's referents about a report routed to them (immediate mode).
    referent_subject: str = "[{{ service }}] Nouveau signalement n° {{ tracking_number }} : {{ category }}"
    referent_body: str = (
        "Bonjour,\n\nUn signalement a été transmis au service {{ service }}.\n\nN° {{ tracking_number }} — "
        "{{ category }}\nAdresse : {{ address or 'non localisé' }}\n\n{{ summary }}\n\nLe voir : {{ report_url }}\n"
        "Page de terrain (technicien) : {{ field_url }}\n"
    )
    # Daily digest to referents (digest mode): variables service, day, reports (tracking_number, category,
    # address, report_url).
    digest_subject: str = "[{{ service }}] {{ reports | length }} signalement(s) transmis le {{ day }}"
    digest_body: str = (
        "Bonjour,\n\nSignalements transmis au service {{ service }} le {{ day }} :\n\n"
        "{% for r in reports %}- n° {{ r.tracking_number }} — {{ r.category }} — {{ r.address or 'non localisé' }}\n"
        "  {{ r.report_url }}\n{% endfor %}"
    )

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: dict[str, StatusMessage]) -> dict[str, StatusMessage]:
        unknown = sorted(set(value) - set(STATUS_CODES))
        if unknown:
            raise ValueError(f"unknown status {', '.join(unknown)} (known: {', '.join(STATUS_CODES)})")
        return value


class Notifications(_Strict):
    max_confirmations_per_recipient_per_day: int = Field(default=3, ge=0, le=100)
    noreply_patterns: list[str] = Field(
        default_factory=lambda: ["noreply", "no-reply", "ne-pas-repondre", "nepasrepondre", "mailer-daemon"]
    )


class Classifier(_Strict):
    model: str | None = None
    review_threshold: float = Field(default=0.9, gt=0, le=1)


class Landmark(_Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Addresses(_Strict):
    reference: list[str] = Field(default_factory=list)
    geocoder: Literal["local", "addok"] = "local"
    addok_url: str | None = None
    min_score: float = Field(default=0.5, ge=0, le=1)
    exif_margin_m: float = Field(default=300, ge=0, le=10000)
    max_estimate_m: float = Field(default=40, gt=0, le=5000)
    landmarks: list[Landmark] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _addok_needs_url(self) -> Addresses:
        if self.geocoder == "addok" and not self.addok_url:
            raise ValueError("addresses.addok_url: required when geocoder is addok")
        return self


class Dedupe(_Strict):
    enabled: bool = True
    window_days: int = Field(default=14, ge=0, le=365)
    radius_m: dict[str, Annotated[float, Field(gt=0, le=5000)]] = Field(default_factory=lambda: dict(DEDUPE_RADII))

    def radius(self, category: str) -> float:
        """Matching radius of a category, else the `default` one."""
        return self.radius_m.get(category, self.radius_m.get("default", DEDUPE_RADII["default"]))


class HotspotRule(_Strict):
    """A hotspot of one category: at least `min_reports` reports within `radius_m` metres over `days` days."""

    min_reports: int = Field(default=5, ge=2, le=10_000)
    radius_m: float = Field(default=150, ge=10, le=2000)
    days: int = Field(default=30, ge=1, le=366)
    noun: str | None = Field(default=None, min_length=1, max_length=80)  # plural noun in labels: "dépôts sauvages"


class HotspotOverride(_Strict):
    min_reports: int | None = Field(default=None, ge=2, le=10_000)
    radius_m: float | None = Field(default=None, ge=10, le=2000)
    days: int | None = Field(default=None, ge=1, le=366)
    noun: str | None = Field(default=None, min_length=1, max_length=80)


class Hotspots(_Strict):
    default: HotspotRule = HotspotRule()
    categories: dict[str, HotspotOverride] = Field(default_factory=dict)  # per-category changes to `default`
    exclude: list[str] = Field(default_factory=list)  # categories never grouped into hotspots

    def rule(self, category: str) -> HotspotRule:
        """The thresholds of `category`: its own settings over the default ones."""
        override = self.categories.get(category)
        if override is None:
            return self.default
        return self.default.model_copy(update=override.model_dump(exclude_none=True))


class Worker(_Strict):
    job_timeout: int = Field(default=300, ge=30, le=3600)
    stale_claim_seconds: int = Field(default=600, ge=60)
    sweep_interval: int = Field(default=60, ge=5)
    max_attempts: int = Field(default=5, ge=1, le=50)


class Limits(_Strict):
    """Budgets of one message: cheap size checks before parsing, then CPU time and memory for understanding it."""

    isolate: bool = True  # understand each message in a child process the budgets can stop
    message_cpu_seconds: float = Field(default=20, gt=0, le=600)
    message_wall_seconds: float = Field(default=60, gt=0, le=1800)
    message_memory_mb: int = Field(default=768, ge=64, le=16384)
    max_message_mb: float = Field(default=50, gt=0, le=500)
    max_header_kb: int = Field(default=256, ge=8, le=16384)
    max_header_lines: int = Field(default=5000, ge=50, le=1_000_000)
    max_encoded_words: int = Field(default=5000, ge=10, le=1_000_000)
    max_mime_parts: int = Field(default=500, ge=1, le=100_000)
    max_nested_messages: int = Field(default=10, ge=0, le=1000)


class TwilioOutbound(_Strict):
    backend: Literal["twilio", "console"] = "twilio"
    daily_cap_per_number: int = Field(default=5, ge=0, le=100)
    per_second: float = Field(default=1.0, gt=0, le=100)
    allowed_prefixes: list[str] = Field(default_factory=list)  # narrows the mobiles of town.phone_region
    max_segments: int = Field(default=2, ge=1, le=10)


class Twilio(_Strict):
    enabled: bool = False
    account_sid: str = ""
    auth_token: Secret | None = None
    numbers: list[str] = Field(default_factory=list)
    whatsapp_number: str | None = None
    public_base_url: str | None = None
    api_base_url: str | None = None
    poll: bool = False
    poll_interval: int = Field(default=60, ge=10, le=3600)
    poll_overlap: int = Field(default=600, ge=0, le=86400)
    thread_window_minutes: int = Field(default=30, ge=0, le=1440)
    media_max_mb: float = Field(default=10, gt=0, le=100)
    media_types: list[str] = Field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/heic",
            "image/webp",
            "audio/mpeg",
            "audio/wav",
            "audio/ogg",
            "video/mp4",
        ]
    )
    delete_media: bool = False
    voice_enabled: bool = False
    voice_message: str = (
        "Bonjour, vous êtes bien à la mairie. Nos services sont fermés. Après le bip, décrivez le "
        "problème et le lieu exact, puis raccrochez."
    )
    voice_max_seconds: int = Field(default=120, ge=10, le=600)
    outbound: TwilioOutbound = TwilioOutbound()

    @model_validator(mode="after")
    def _needs_token(self) -> Twilio:
        if self.enabled and (self.auth_token is None or not self.account_sid):
            raise ValueError("twilio.enabled needs account_sid and auth_token ({env: VAR} or {file: PATH})")
        if self.enabled and not self.poll and not self.public_base_url:
            raise ValueError("twilio.public_base_url: required for webhooks (or set poll: true)")
        return self


_SERVICE_SID = r"^GA[0-9a-f]{32}$"


class Transcription(_Strict):
    """Voicemail transcription: the engine (a name of the transcriber registry, or "module:factory")."""

    engine: str = Field(default="none", min_length=1)
    language: str = "fr-FR"
    # Twilio Conversational Intelligence service (GA…) whose language is `language`; required by engine "twilio".
    intelligence_service_sid: str | None = Field(default=None, pattern=_SERVICE_SID)
    min_confidence: float = Field(default=0.6, ge=0, le=1)  # below: "transcription incertaine", to review
    min_words: int = Field(default=3, ge=0, le=100)  # fewer words: "transcription trop courte", to review
    poll_after_seconds: int = Field(default=300, ge=30, le=86400)  # a transcript not called back by then is fetched
    give_up_hours: int = Field(default=24, ge=1, le=24 * 30)  # a transcript still missing then is left to agents


class Web(_Strict):
    secret_key: Secret | None = None
    # Map tiles ({z}/{x}/{y} URL template); without one, maps show markers on a plain background.
    tiles_url: str | None = None
    tiles_attribution: str = ""
    session_hours: float = Field(default=10, gt=0, le=24 * 30)  # a sign-in lasts at most this long
    idle_minutes: int = Field(default=60, ge=1, le=24 * 60)  # signed out after this long without a request
    # Reverse proxies in front of `guichet serve` whose X-Forwarded-For is trusted for the client's address
    # (sign-in throttle, Open311 rate limits, audit log); 0: the address of the connection itself.
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    public_after_photo: bool = False  # the technicians' photos after the work on the public tracking page
    # /metrics (Prometheus): refused unless the scraper shows this bearer token or comes from an allowed address.
    metrics_token: Secret | None = None
    metrics_allow: list[str] = Field(default_factory=list)  # addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/24"]

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for i, entry in enumerate(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"[{i}] : {entry!r} n'est ni une adresse IP ni un réseau (10.0.0.0/24)") from None
        return value


_ORIGIN = r"^https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$"


class WebForm(_Strict):
    """The citizens' web form at /signaler (web/signaler.py): anti-abuse limits and where it may be embedded."""

    enabled: bool = True
    max_photos: int = Field(default=3, ge=0, le=10)
    max_description: int = Field(default=4000, ge=100, le=20_000)
    min_seconds: float = Field(default=3, ge=0, le=600)  # a form sent sooner after it was opened is a robot's
    max_age_hours: float = Field(default=12, gt=0, le=24 * 7)  # older forms: "page expirée", reload
    max_reports_per_address_per_hour: int = Field(default=10, ge=1, le=100_000)
    max_suggestions_per_address_per_minute: int = Field(default=120, ge=1, le=100_000)
    # Origins of the town's websites allowed to show /signaler in an iframe (CSP frame-ancestors).
    embed_origins: list[Annotated[str, Field(pattern=_ORIGIN)]] = Field(default_factory=list)


class ApiKey(_Strict):
    name: str = Field(min_length=1, max_length=80)
    key: Secret


class Open311(_Strict):
    api_keys: list[ApiKey] = Field(default_factory=list)
    max_description: int = Field(default=4000, ge=100, le=100_000)
    max_media_mb: float = Field(default=10, gt=0, le=100)
    max_requests_per_address_per_minute: int = Field(default=10, ge=1, le=100_000)
    max_requests_per_key_per_minute: int = Field(default=120, ge=1, le=1_000_000)


_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"


class Health(_Strict):
    """When a door of the intake health page counts as silent for unusually long (see intake/health.py)."""

    history_days: int = Field(default=30, ge=1, le=365)
    percentile: float = Field(default=95, ge=50, lt=100)
    floor_hours: float = Field(default=6, gt=0, le=24 * 90)
    min_gaps: int = Field(default=5, ge=1, le=1000)
    quiet_hours: Annotated[str, Field(pattern=rf"^({_CLOCK}-{_CLOCK})?$")] = "21:00-07:00"
    quiet_weekends: bool = True

    @field_validator("quiet_hours")
    @classmethod
    def _not_empty_window(cls, value: str) -> str:
        start, _, end = value.partition("-")
        if value and start == end:
            raise ValueError(f'{value!r}: start and end are equal; use "" to count every hour')
        return value


class Retention(_Strict):
    """How long citizens' data is kept once a report is closed (résolu, rejeté), in months (issue 12, RGPD 1)."""

    raw_months: int = Field(default=6, ge=1, le=120)
    identity_months: int = Field(default=12, ge=1, le=240)
    audit_months: int = Field(default=12, ge=1, le=120)

    @model_validator(mode="after")
    def _raw_before_identity(self) -> Retention:
        if self.raw_months > self.identity_months:
            raise ValueError(
                "privacy.retention.raw_months: the raw messages carry the identity too; keep them no "
                f"longer than identity_months ({self.raw_months} > {self.identity_months})"
            )
        return self


class Privacy(_Strict):
    """The privacy notice (art. 13 RGPD), the retention of data and the pseudonyms' key."""

    controller: str = "la commune (le maire, responsable du traitement)"
    controller_address: str = ""
    dpo_contact: str = ""
    purposes: list[str] = Field(
        default_factory=lambda: [
            "recevoir, traiter et suivre les signalements de problèmes dans l'espace public",
            "informer la personne qui a signalé de la suite donnée",
            "produire des statistiques anonymes sur les problèmes signalés",
        ]
    )
    legal_basis: str = "mission d'intérêt public dont est investie la commune (article 6.1.e du RGPD)"
    recipients: list[str] = Field(
        default_factory=lambda: [
            "les agents de la mairie chargés des signalements et les services techniques concernés"
        ]
    )
    authority: str = "CNIL, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07 — www.cnil.fr"
    pseudonym_key: str = "var/pseudonym.key"
    retention: Retention = Retention()


class Config(_Strict):
    town: Town
    database_url: str = "sqlite:///var/guichet.db"
    redis_url: str | None = None
    storage: Storage = Storage()
    mailboxes: list[Mailbox] = Field(default_factory=list)
    smtp: Smtp
    services: list[Service] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    templates: Templates
    notifications: Notifications = Notifications()
    worker: Worker = Worker()
    limits: Limits = Limits()
    classifier: Classifier = Classifier()
    web: Web = Web()
    open311: Open311 = Open311()
    webform: WebForm = WebForm()
    twilio: Twilio = Twilio()
    transcription: Transcription = Transcription()
    addresses: Addresses = Addresses()
    dedupe: Dedupe = Dedupe()
    hotspots: Hotspots = Hotspots()
    statuses: Statuses = Statuses()
    routing: Routing = Routing()
    ask_location: AskLocation = AskLocation()
    health: Health = Health()
    privacy: Privacy = Privacy()
    pipeline: list[str] = Field(default_factory=lambda: list(DEFAULT_PIPELINE))
    base_dir: str = "."

    @field_validator("mailboxes")
    @classmethod
    def _unique_mailboxes(cls, value: list[Mailbox]) -> list[Mailbox]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mailbox names must be unique, repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _mailboxes_can_be_read(self) -> Config:
        # Contradictions the IMAP channel would only meet at poll time, in a worker's log.
        for i, mb in enumerate(self.mailboxes):
            if mb.tls and mb.starttls:
                raise ValueError(
                    f"mailboxes[{i}].starttls : incompatible avec tls: true (tls: true pour IMAPS, "
                    "port 993 ; tls: false et starttls: true pour STARTTLS, port 143)"
                )
            if mb.after_store == "move" and mb.processed_folder == mb.folder:
                raise ValueError(
                    f"mailboxes[{i}].processed_folder : {mb.processed_folder!r} est aussi le dossier "
                    "relevé (folder) ; choisir un autre dossier, ou after_store: flag"
                )
        if self.smtp.tls and self.smtp.starttls:
            raise ValueError(
                "smtp.starttls : incompatible avec tls: true (tls: true pour le TLS implicite, "
                "port 465 ; tls: false et starttls: true pour STARTTLS, port 587)"
            )
        return self

    @model_validator(mode="after")
    def _transcription_can_run(self) -> Config:
        tr = self.transcription
        if tr.engine == "none":
            return self
        if "transcript" not in self.pipeline:
            raise ValueError(
                f"pipeline : l'étape transcript manque alors que transcription.engine vaut {tr.engine!r} "
                "(les transcriptions deviendraient de nouveaux signalements)"
            )
        if tr.engine == "twilio" and not (self.twilio.enabled and tr.intelligence_service_sid):
            raise ValueError(
                "transcription.engine twilio : twilio.enabled et transcription.intelligence_service_sid "
                "(service Conversational Intelligence GA… en fr-FR) sont nécessaires"
            )
        return self

    @model_validator(mode="after")
    def _codes_are_unique(self) -> Config:
        for key, codes in (
            ("services", [s.code for s in self.services]),
            ("categories", [c.code for c in self.categories]),
            ("open311.api_keys", [k.name for k in self.open311.api_keys]),
        ):
            for i, code in enumerate(codes):
                if code in codes[:i]:
                    field = "name" if key == "open311.api_keys" else "code"
                    raise ValueError(f"{key}[{i}].{field} : {code!r} est déjà utilisé par {key}[{codes.index(code)}]")
        return self

    @model_validator(mode="after")
    def _dedupe_radii_known(self) -> Config:
        # A radius under a misspelt category would silently leave that category on the default radius.
        known = {c.code for c in self.categories} | {"default"}
        unknown = sorted(set(self.dedupe.radius_m) - known)
        if unknown:
            raise ValueError(
                f"dedupe.radius_m.{unknown[0]} : catégorie inconnue (catégories : "
                f"{', '.join(sorted(known - {'default'}))}, ou default)"
            )
        return self

    @model_validator(mode="after")
    def _claims_outlive_jobs(self) -> Config:
        # A claim older than this is taken for a dead worker's: shorter than a job, a slow job runs twice.
        if self.worker.stale_claim_seconds <= self.worker.job_timeout:
            raise ValueError(
                f"worker.stale_claim_seconds : {self.worker.stale_claim_seconds} s doit dépasser "
                f"worker.job_timeout ({self.worker.job_timeout} s), sinon un message encore en cours "
                "est repris par un autre worker"
            )
        return self

    @model_validator(mode="after")
    def _timeouts_fit_jobs(self) -> Config:
        # A poll blocked on a dead server must fail by itself before rq kills the job.
        for i, mb in enumerate(self.mailboxes):
            if mb.timeout * 2 >= self.worker.job_timeout:
                raise ValueError(
                    f"mailboxes[{i}].timeout: {mb.timeout} s must be under half of worker.job_timeout "
                    f"({self.worker.job_timeout} s)"
                )
        return self

    @model_validator(mode="after")
    def _categories_have_services(self) -> Config:
        services = {s.code for s in self.services}
        for i, cat in enumerate(self.categories):
            if cat.service not in services:
                raise ValueError(
                    f"categories[{i}].service: unknown service {cat.service!r} (known: {', '.join(sorted(services))})"
                )
        return self

    @model_validator(mode="after")
    def _hotspot_categories_known(self) -> Config:
        categories = {c.code for c in self.categories}
        for key in ("categories", "exclude"):
            unknown = sorted(set(getattr(self.hotspots, key)) - categories)
            if unknown:
                raise ValueError(
                    f"hotspots.{key}: unknown category {', '.join(unknown)} (known: {', '.join(sorted(categories))})"
                )
        return self

    @model_validator(mode="after")
    def _routes_are_known(self) -> Config:
        services = {s.code for s in self.services}
        categories = {c.code for c in self.categories} | {"*"}
        for i, rule in enumerate(self.routing.rules):
            if rule.service not in services:
                raise ValueError(f"routing.rules[{i}].service: unknown service {rule.service!r}")
            if rule.category not in categories:
                raise ValueError(f"routing.rules[{i}].category: unknown category {rule.category!r}")
        if self.routing.rules and not self.routing.zones_file:
            raise ValueError("routing.rules need routing.zones_file (a GeoJSON of the zones)")
        return self

    @property
    def reply_address(self) -> str | None:
        """The Reply-To of mail to citizens: smtp.reply_to, else the first public mailbox's address."""
        if self.smtp.reply_to:
            return self.smtp.reply_to
        return next((m.email_address for m in self.mailboxes if m.role == "public" and m.email_address), None)

    @model_validator(mode="after")
    def _replies_can_arrive(self) -> Config:
        # A message asking the citizen to answer it, sent from a no-reply address without a Reply-To: the answer
        # (the missing address, a photo) would never reach the town. Only real sending is checked (console: tests).
        if self.smtp.backend != "smtp" or self.reply_address:
            return self
        local = self.smtp.from_address.split("@")[0].lower()
        if not any(p in local for p in self.notifications.noreply_patterns):
            return self  # answers go to the sender's address, which is read
        for key, source, _variables in self.template_sources():
            if (
                key.endswith((".body", "_body"))
                and not key.startswith(("templates.referent", "templates.digest"))
                and ASKS_FOR_REPLY.search(source)
            ):
                raise ValueError(
                    f"{key} : ce message demande au citoyen de répondre, mais aucune adresse ne reçoit "
                    f"les réponses (smtp.from_address {self.smtp.from_address!r} ne les lit pas) : "
                    "donner smtp.reply_to, ou l'adresse de la boîte publique (mailboxes[…].address)"
                )
        return self

    @model_validator(mode="after")
    def _database_url_usable(self) -> Config:
        check_database_url(self.database_url, base_dir=Path(self.base_dir))
        return self

    @model_validator(mode="after")
    def _storage_folders_reachable(self) -> Config:
        # Folders are created at start, but only where a typo cannot scatter them: under var/, or in a folder
        # that exists (never /nonexistent/dir/ from the filesystem's root).
        var = self.resolve_path("var")
        for key in ("root", "spool"):
            folder = self.resolve_path(getattr(self.storage, key))
            if not folder.exists() and not folder.parent.exists() and not folder.is_relative_to(var):
                raise ValueError(
                    f"storage.{key} : le dossier {folder.parent} n'existe pas ; le créer (mkdir -p "
                    f"{folder.parent}) ou corriger le chemin (un chemin relatif part du dossier de "
                    f"config.yaml, {self.base_dir})"
                )
        return self

    @model_validator(mode="after")
    def _templates_render(self) -> Config:
        # Every template is compiled and rendered once with a sample report, so that a typo is named here with
        # its key and line instead of failing every message later; each SMS must also fit once rendered with the
        # longest configured values (the agent's note is not counted: it is cut when the SMS is sent).
        from intake.gsm import TemplateTooLong, check_template

        for code in self.statuses.notify:
            if code not in self.templates.status:
                raise ValueError(
                    f"templates.status.{code} : message manquant pour le statut {code!r} listé dans "
                    "statuses.notify (donner subject, body et sms)"
                )
        for key, source, variables in self.template_sources():
            rendered = render_sample(key, source, self.template_sample(variables))
            if key.endswith("sms") or key.startswith("templates.sms_"):
                try:
                    check_template(" ".join(rendered.split()), self.twilio.outbound.max_segments)
                except TemplateTooLong as exc:
                    raise ValueError(
                        f"{key} : trop long une fois rendu avec les libellés de catégorie, de service "
                        f"et de motif les plus longs : {exc}"
                    ) from None
        return self

    def template_sources(self) -> list[tuple[str, str, frozenset[str]]]:
        """(key, source, variables it may use) of every message template of the configuration."""
        t = self.templates
        out = [
            ("templates.confirmation_subject", t.confirmation_subject, CONFIRMATION_VARIABLES),
            ("templates.confirmation_body", t.confirmation_body, CONFIRMATION_VARIABLES),
            ("templates.sms_confirmation", t.sms_confirmation, CONFIRMATION_VARIABLES),
            ("templates.sms_stopped", t.sms_stopped, TOWN_VARIABLES),
            ("templates.sms_started", t.sms_started, TOWN_VARIABLES),
            ("templates.referent_subject", t.referent_subject, REFERENT_VARIABLES),
            ("templates.referent_body", t.referent_body, REFERENT_VARIABLES),
            ("templates.digest_subject", t.digest_subject, DIGEST_VARIABLES),
            ("templates.digest_body", t.digest_body, DIGEST_VARIABLES),
        ]
        for part in ("subject", "body", "sms"):
            out.append((f"templates.ask_location.{part}", getattr(t.ask_location, part), ASK_LOCATION_VARIABLES))
        for code, message in t.status.items():
            for part in ("subject", "body", "sms"):
                out.append((f"templates.status.{code}.{part}", getattr(message, part), STATUS_VARIABLES))
        return out

    def template_sample(self, variables: frozenset[str]) -> dict[str, Any]:
        """Sample values of a template's variables: the longest configured labels, a plausible report."""
        report: dict[str, Any] = {
            "tracking_number": "2026-123456",
            "town": self.town.name,
            "note": "",
            "subject": "Lampadaire éteint",
            "summary": "Le lampadaire devant le 12 rue de la Paix est éteint depuis trois jours.",
            "received_at": "07/12/2026 à 09:30",
            "attachments": ["photo.jpg"],
            "address": "12 Rue de la Paix",
            "category": max((c.label for c in self.categories), key=len),
            "service": max((s.name for s in self.services), key=len),
            "reason": max((r.label for r in self.statuses.reject_reasons), key=len),
            "status": max(self.statuses.labels.values() or STATUS_CODES, key=len),
            "status_url": self.status_url("x" * 32),
            "location_url": self.status_url("x" * 32) + "/position",
            "report_url": f"{self.town.public_url.rstrip('/')}/signalements/2026-123456",
            "day": "07/12/2026",
            "privacy_url": self.privacy_url(),
            "field_url": f"{self.town.public_url.rstrip('/')}/terrain/2026-123456",
        }
        report["reports"] = [
            {k: report[k] for k in ("tracking_number", "category", "address", "summary", "report_url")}
        ]
        return {k: v for k, v in report.items() if k in variables}

    def service(self, code: str | None) -> Service | None:
        """The service called `code`, or None."""
        return next((s for s in self.services if s.code == code), None)

    def status_url(self, token: str) -> str:
        """The citizen's public tracking page of a report (its unguessable token, never its number)."""
        return f"{self.town.public_url.rstrip('/')}/suivi/{token}"

    def privacy_url(self) -> str:
        """The public privacy notice (art. 13 RGPD), generated from `privacy`."""
        return f"{self.town.public_url.rstrip('/')}/confidentialite"

    def resolve_path(self, path: str) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()

    def path_warnings(self) -> list[str]:
        """French warnings for the files the configuration names that are not there (a config copied to another
        folder keeps its relative paths, which then point to nothing), and for a database about to be created."""
        named: list[tuple[str, str | None]] = [
            (f"addresses.reference[{i}]", name) for i, name in enumerate(self.addresses.reference)
        ]
        named += [("routing.zones_file", self.routing.zones_file), ("classifier.model", self.classifier.model)]
        out = []
        for key, name in named:
            if name and not self.resolve_path(name).exists():
                relative = (
                    ""
                    if Path(name).is_absolute()
                    else f" (chemin relatif au dossier de la configuration, {self.base_dir})"
                )
                out.append(f"{key} : {self.resolve_path(name)} n'existe pas{relative}")
        url = self.sqlalchemy_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url[len("sqlite:///") :])
            if not path.exists():
                out.append(
                    f"database_url : pas de base dans {path} ; une base vide y sera créée (si la base existante "
                    "est ailleurs, corriger database_url ou GUICHET_DATABASE_URL)"
                )
        return out

    def mailbox(self, name: str) -> Mailbox:
        """Return the mailbox called `name`, or raise ConfigError."""
        for mb in self.mailboxes:
            if mb.name == name:
                return mb
        raise ConfigError(f"unknown mailbox {name!r} (configured: {', '.join(m.name for m in self.mailboxes)})")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with relative SQLite paths resolved against the config folder."""
        url = self.database_url
        if url.startswith("postgresql://"):  # SQLAlchemy's default driver (psycopg2) is not installed: psycopg 3 is
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            return prefix + str(self.resolve_path(url[len(prefix) :]))
        return url


def _describe(error: Any) -> str:
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in error["loc"]).replace(".[", "[")
    kind = error["type"]
    msg = error["msg"]
    if kind == "missing":
        return f"{loc}: missing key"
    if kind == "extra_forbidden":
        hint = " (secrets go in {env: VAR} or {file: PATH})" if loc.endswith(("password", "token")) else ""
        return f"{loc}: unknown key{hint}"
    if kind == "value_error":
        # Our validators name the key themselves ("mailboxes[0].starttls : ..."): no pydantic prefix, no input dump.
        text = str(error.get("ctx", {}).get("error") or msg)
        return f"{loc}: {text}" if loc else text
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    return f"{loc or '(root)'}: {msg} (got {shown})"


def _anchor_secret_files(data: dict[str, Any], base: Path) -> None:
    """Make relative secret file paths relative to the config file's folder, not to the current directory."""
    mailboxes = [m for m in data.get("mailboxes") or [] if isinstance(m, dict)]
    holders: list[Any] = [
        data.get("smtp"),
        data.get("web"),
        data.get("twilio"),
        *mailboxes,
        *(m.get("oauth2") for m in mailboxes),
    ]
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        for key in (
            "password",
            "oauth2_token",
            "secret_key",
            "auth_token",
            "client_secret",
            "refresh_token",
            "metrics_token",
        ):
            secret = holder.get(key)
            path = secret.get("file") if isinstance(secret, dict) else None
            if isinstance(secret, dict) and isinstance(path, str) and not Path(path).is_absolute():
                holder[key] = {**secret, "file": str(base / path)}


def parse_config(data: Any, *, base_dir: str = ".") -> Config:
    """Validate a loaded YAML document; raise ConfigError listing every bad key."""
    if not isinstance(data, dict):
        raise ConfigError("config: expected a mapping of keys at the top level")
    data = dict(data)
    data.setdefault("base_dir", base_dir)
    _anchor_secret_files(data, Path(data["base_dir"]))
    if os.environ.get("GUICHET_DATABASE_URL"):
        data["database_url"] = os.environ["GUICHET_DATABASE_URL"]
    if os.environ.get("GUICHET_REDIS_URL"):
        data["redis_url"] = os.environ["GUICHET_REDIS_URL"]
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError("\n  " + "\n  ".join(lines)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load config.yaml (GUICHET_CONFIG or the shipped demo), apply environment overrides, validate."""
    chosen = Path(path or os.environ.get("GUICHET_CONFIG") or DEFAULT_CONFIG)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {chosen}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader: libyaml's when installed, far faster
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen}: not valid YAML: {exc}") from None
    try:
        return parse_config(data, base_dir=str(chosen.resolve().parent))
    except ConfigError as exc:
        overridden = {k for k in ("database_url", "redis_url") if os.environ.get(f"GUICHET_{k.upper()}")}
        raise ConfigError(_with_lines(str(exc), text, chosen.name, overridden)) from None


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEY = re.compile(r"^(\s*)([a-z_0-9]+(?:\[\d+\]|\.[a-z_0-9-]+)*)")


def _key_lines(text: str) -> dict[str, int]:
    """The line of config.yaml where each key path ("templates.status.resolu.body", "mailboxes[0].port") starts."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{path}[{i}]"] = item.start_mark.line + 1
                walk(item, f"{path}[{i}]")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


def _with_lines(message: str, text: str, filename: str, overridden: set[str]) -> str:
    """Add the config file's line to each error line that starts with a key path found in the file (or the
    environment variable a key came from)."""
    lines = _key_lines(text)
    out = []
    for line in message.splitlines():
        match = _KEY.match(line)
        key = match.group(2) if match else ""
        if key in overridden:
            out.append(f"{line} (valeur de GUICHET_{key.upper()})")
            continue
        while key and key not in lines:  # a missing key: the line of the nearest enclosing one
            key = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", key) if re.search(r"[.\[]", key) else ""
        out.append(f"{line} ({filename}, ligne {lines[key]})" if key else line)
    return "\n".join(out)
