"""Tests of the web blueprints."""
