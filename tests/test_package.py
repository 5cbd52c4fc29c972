"""The public facade: `digitlab.evaluate` is the function (its module is digitlab.evaluation, so importing that
module never replaces the function), and every public name is there."""

import subprocess
import sys


def test_public_functions_survive_submodule_imports():
    code = ("import digitlab, types; import digitlab.evaluation; from digitlab.evaluation import data_source; "
            "print(type(digitlab.evaluate).__name__, type(digitlab.train).__name__, "
            "isinstance(__import__('sys').modules['digitlab.evaluation'], types.ModuleType))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["function", "function", "True"]


def test_every_public_name_is_there():
    import digitlab

    for name in digitlab.__all__:
        assert getattr(digitlab, name) is not None, name
