"""Tests of the classifiers package."""
