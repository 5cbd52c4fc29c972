"""Other frameworks' files, both ways: MindSpore .ckpt read (mindspore.py) and written (mindspore_export.py), the format
by hand (ckpt.py), the models with a network in the seeds (counterparts.py)."""
