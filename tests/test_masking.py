"""The one masker of contact details in free text (referents' notices, the public Open311 API)."""

from __future__ import annotations

from intake.masking import EMAIL_MASK, PHONE_MASK, mask_contacts


def test_citizen_contacts_are_masked() -> None:
    text = "Rappelez-moi au 06 12 34 56 78 ou +33 6.12.34.56.78, ou jeanne.martin@example.org. Dossier 2026-00042."
    masked = mask_contacts(text)
    assert "06 12" not in masked and "+33" not in masked and "example.org" not in masked
    assert masked.count(PHONE_MASK) == 2 and EMAIL_MASK in masked
    assert "2026-00042" in masked  # a tracking number is not a phone number


def test_overseas_unassigned_and_foreign_numbers_are_masked() -> None:
    text = "Guyane 0694 12 34 56, nouveau 07 00 00 00 02, UK +44 7700 900123, le 12/03/2025 au 75011 n° 12345"
    masked = mask_contacts(text)
    assert masked == (f"Guyane {PHONE_MASK}, nouveau {PHONE_MASK}, UK {PHONE_MASK}, le 12/03/2025 au 75011 n° 12345")


def test_region_reads_national_numbers() -> None:
    assert mask_contacts("call (415) 867-5309", region="US") == f"call {PHONE_MASK}"
    assert mask_contacts("call (415) 867-5309") == "call (415) 867-5309"  # no French trunk 0: not a number here
    assert mask_contacts(None) == "" and mask_contacts("") == ""
