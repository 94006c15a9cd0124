"""Email stages: parse the MIME message, then screen it for automated senders (loop protection)."""

from __future__ import annotations

from intake.pipeline.registry import Context, register


@register("parse")
class ParseStage:
    """Turn the raw bytes of an email into a ParsedEmail (other channels are parsed by their own stage)."""

    name = "parse"

    def process(self, ctx: Context) -> None:
        """Parse `ctx.raw.payload` with the town's limits."""
        if ctx.raw.channel != "email":
            return
        from intake.email.parse import parse_email

        storage = ctx.config.storage
        ctx.parsed = parse_email(
            ctx.raw.payload,
            max_attachments=storage.max_attachments,
            max_attachment_bytes=int(storage.max_attachment_mb * 1024 * 1024),
            own_domains=tuple(ctx.config.town.own_domains),
        )


def _is_own(address: str | None, own_domains: list[str]) -> bool:
    if not address or "@" not in address:
        return False
    domain = address.rsplit("@", 1)[1].lower()
    return any(domain == d.lower() or domain.endswith("." + d.lower()) for d in own_domains)


def _is_noreply(address: str | None, patterns: list[str]) -> bool:
    if not address:
        return False
    local = address.split("@", 1)[0].lower()
    return any(p in local for p in patterns)


@register("screen")
class ScreenStage:
    """Decide whether the citizen may be answered: never automated senders, never ourselves."""

    name = "screen"

    def process(self, ctx: Context) -> None:
        """Set `ctx.no_confirmation` with a French reason when no confirmation must be sent."""
        parsed = ctx.parsed
        if parsed is None:
            return
        town = ctx.config.town
        own = list(town.own_domains) + [town.mail_domain]
        email = parsed.sender.email
        role = next((m.role for m in ctx.config.mailboxes if m.name == ctx.raw.source), "public")
        if role == "reception" and not parsed.forwarded and parsed.auto_reply_kind != "automatic":
            # Staff wrote this themselves (a phone call typed in, a note): the sender is not the citizen.
            ctx.no_confirmation = "message de l'accueil sans message de citoyen transféré"
            ctx.notes.append("Message écrit par l'accueil (aucun message de citoyen transféré reconnu) : "
                             "vérifier l'auteur et le contacter si besoin.")
        elif parsed.auto_reply:
            ctx.no_confirmation = f"message automatique ({parsed.auto_reply_reason})"
        elif _is_own(parsed.header_from.email, own) and parsed.forwarded_by is None:
            ctx.no_confirmation = "message envoyé par la mairie elle-même"
        elif not email:
            ctx.no_confirmation = "adresse du citoyen introuvable"
        elif _is_own(email, own):
            ctx.no_confirmation = "l'auteur est une adresse de la mairie"
        elif _is_noreply(email, ctx.config.notifications.noreply_patterns):
            ctx.no_confirmation = f"adresse qui n'accepte pas de réponse ({email})"
