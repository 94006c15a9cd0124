"""Geocoding: the commune's address reference, an embedded geocoder over it, and the addok HTTP backend."""
