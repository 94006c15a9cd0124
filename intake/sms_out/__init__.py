"""Outgoing SMS and WhatsApp: segment counting, destination rules, rate limiting and sending."""
