"""Where is the problem? Street addresses, intersections and landmarks read from a citizen's message."""

from classifiers.address.extractor import AddressExtractor, AddressMention
from classifiers.address.gazetteer import Gazetteer, StreetEntry, load_reference
from classifiers.text import normalize_street

__all__ = ["AddressExtractor", "AddressMention", "Gazetteer", "StreetEntry", "load_reference", "normalize_street"]
