"""Data: find, verify, download and load datasets; keep them as device tensors; batch and augment them.

catalog (a spec per dataset) -> locate (where files may be) -> verify (the one checksum routine) -> idx (the format)
-> sources (resolve / load_dataset / fetch) and install (`data fetch --from`) -> loader + transforms (device tensors).

The names below are imported on first use, so `import digitlab.data.catalog` (the config check does) stays light:
no torch, no HTTP client.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "TensorLoader": "digitlab.data.loader",
    "prepare_images": "digitlab.data.loader",
    "DATASETS": "digitlab.data.catalog",
    "Dataset": "digitlab.data.sources",
    "load_dataset": "digitlab.data.sources",
    "resolve": "digitlab.data.sources",
}

__all__ = ["DATASETS", "Dataset", "TensorLoader", "load_dataset", "prepare_images", "resolve"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitlab.data' has no attribute {name!r}")
