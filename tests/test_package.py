"""The public facade: `digitlab.evaluate` stays the function after its submodule is imported."""

import subprocess
import sys


def test_public_functions_survive_submodule_imports():
    code = ("import digitlab, types; import digitlab.evaluate; from digitlab.evaluate import data_source; "
            "print(type(digitlab.evaluate).__name__, type(digitlab.train).__name__, "
            "isinstance(__import__('sys').modules['digitlab.evaluate'], types.ModuleType))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["function", "function", "True"]
