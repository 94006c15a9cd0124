"""Address reference tables: the commune's streets (and lieux-dits) and their numbered points."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intake.models import Base


class AddressStreet(Base):
    """A street or lieu-dit of one commune, with the centre of its known points."""

    __tablename__ = "address_street"
    __table_args__ = (UniqueConstraint("citycode", "normalized", name="uq_address_street_citycode_normalized"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citycode: Mapped[str] = mapped_column(String(5))  # INSEE code (Paris: the arrondissement's)
    postcode: Mapped[str | None] = mapped_column(String(5))  # None when the file has none (BAL)
    city: Mapped[str] = mapped_column(String(100), default="")  # label form: "Paris", "Nouméa"
    name: Mapped[str] = mapped_column(String(200))  # canonical, as written in the reference file
    normalized: Mapped[str] = mapped_column(String(200))  # normalize_street(name)
    kind: Mapped[str] = mapped_column(String(10), default="voie")  # "voie" | "lieu-dit"
    lon: Mapped[float] = mapped_column(Float)  # mean of the street's points
    lat: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="")  # reference file name


class AddressPoint(Base):
    """One numbered address of a street: numero, repetition index, position."""

    __tablename__ = "address_point"
    __table_args__ = (UniqueConstraint("street_id", "numero", "rep", name="uq_address_point_street_numero_rep"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("address_street.id", ondelete="CASCADE"))
    numero: Mapped[int] = mapped_column(Integer)
    rep: Mapped[str] = mapped_column(String(10), default="")  # "" when none; lower case: bis, ter, a, b...
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
