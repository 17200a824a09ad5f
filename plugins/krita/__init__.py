"""Krita 5 plug-in files."""
