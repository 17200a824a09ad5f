"""GIMP 3 plug-in files."""
