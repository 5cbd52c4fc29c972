"""Reading other frameworks' files: MindSpore checkpoints (mindspore.py)."""
