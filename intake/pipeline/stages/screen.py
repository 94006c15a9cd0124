"""Stage "screen": who may be answered; never automated senders, never the town itself (loop protection)."""

from __future__ import annotations

from intake.pipeline.registry import BaseStage, ReadContext, register


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
class ScreenStage(BaseStage):
    """Decide whether the citizen of an email may be answered: never automated senders, never ourselves."""

    def read(self, ctx: ReadContext) -> None:
        """Set `no_confirmation` with a French reason when no confirmation must be sent."""
        parsed = ctx.reading.inbound
        if parsed is None or parsed.channel != "email":
            return
        town = ctx.config.town
        own = list(town.own_domains) + [town.mail_domain]
        email = parsed.sender.email
        role = next((m.role for m in ctx.config.mailboxes if m.name == ctx.raw.source), "public")
        if role == "reception" and not parsed.forwarded and parsed.auto_reply_kind != "automatic":
            # Staff wrote this themselves (a phone call typed in, a note): the sender is not the citizen.
            ctx.reading.no_confirmation = "message de l'accueil sans message de citoyen transféré"
            ctx.reading.notes.append(
                "Message écrit par l'accueil (aucun message de citoyen transféré reconnu) : "
                "vérifier l'auteur et le contacter si besoin."
            )
        elif parsed.auto_reply:
            ctx.reading.no_confirmation = f"message automatique ({parsed.auto_reply_reason})"
        elif _is_own(parsed.header_from.email, own) and parsed.forwarded_by is None:
            ctx.reading.no_confirmation = "message envoyé par la mairie elle-même"
        elif not email:
            ctx.reading.no_confirmation = "adresse du citoyen introuvable"
        elif _is_own(email, own):
            ctx.reading.no_confirmation = "l'auteur est une adresse de la mairie"
        elif _is_noreply(email, ctx.config.notifications.noreply_patterns):
            ctx.reading.no_confirmation = f"adresse qui n'accepte pas de réponse ({email})"
