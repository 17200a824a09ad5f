"""Host plug-ins shipped with photomend (installed by ``photomend install``)."""
