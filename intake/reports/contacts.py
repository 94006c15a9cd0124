"""Contacts: linking a citizen's email and phone into one contact, as an agent decides."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.models import Contact, Event, Report
from intake.phones import DEFAULT_REGION, to_e164


def link_contacts(session: Session, *, email: str, phone: str, actor: str, region: str = DEFAULT_REGION) -> Contact:
    """Make the contact of `email` and the contact of `phone` one; their reports follow. Raises ValueError."""
    number = to_e164(phone, region=region)
    if number is None:
        raise ValueError(f"numéro de téléphone invalide : {phone}")
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"adresse électronique invalide : {email}")
    by_email = session.execute(select(Contact).where(Contact.email == email)).scalar_one_or_none()
    by_phone = session.execute(select(Contact).where(Contact.phone == number)).scalar_one_or_none()
    if by_email is None and by_phone is None:
        contact = Contact(email=email, phone=number)
        session.add(contact)
        session.flush()
        return contact
    if by_email is None or by_phone is None or by_email.id == by_phone.id:
        single = by_email or by_phone
        assert single is not None
        single.email, single.phone = email, number
        return single
    # Two contacts: keep the email one, move the phone one's reports to it, keep its SMS opt-out.
    reports = list(session.execute(select(Report.id).where(Report.author_id == by_phone.id)).scalars())
    session.execute(update(Report).where(Report.author_id == by_phone.id).values(author_id=by_email.id))
    opt_out, opt_out_at, name = by_phone.opt_out, by_phone.opt_out_at, by_phone.name
    session.delete(by_phone)
    session.flush()
    by_email.phone, by_email.opt_out, by_email.opt_out_at = number, opt_out, opt_out_at
    by_email.name = by_email.name or name
    for report_id in reports:
        session.add(
            Event(report_id=report_id, actor=actor, action="contact_linked", detail={"email": email, "phone": number})
        )
    return by_email
