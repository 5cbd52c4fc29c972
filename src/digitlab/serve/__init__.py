"""The web page and REST API: `digitlab serve`."""
