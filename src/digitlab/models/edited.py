"""Whether a class (or function) Python holds in memory still matches its file's text: its functions' bytecode and
constants, and its constant argument defaults, against the file compiled afresh (nothing is executed). Used when
`digitlab.train(config, model=MyNet)` records MyNet's file: a file edited after its import is not the class that
trained, and must not be recorded as if it were.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def _code_objects(code: types.CodeType) -> dict[str, types.CodeType]:
    """Every function and class body compiled in `code`, by qualified name."""
    found, stack = {}, [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, types.CodeType):
                found[getattr(const, "co_qualname", const.co_name)] = const
                stack.append(const)
    return found


def _same(live: types.CodeType, compiled: types.CodeType) -> bool:
    plain = [c for c in live.co_consts if not isinstance(c, types.CodeType)]
    return (live.co_code == compiled.co_code and live.co_names == compiled.co_names
            and plain == [c for c in compiled.co_consts if not isinstance(c, types.CodeType)])


def changed_since_import(obj: Callable[..., Any], text: str) -> bool:
    """Whether the file's text now differs from what `obj` was compiled from: each of its functions' bytecode and
    constants, and constant argument defaults, against the file compiled afresh (nothing is executed)."""
    try:
        compiled = _code_objects(compile(text, "<check>", "exec"))
    except (SyntaxError, ValueError):
        return True
    functions = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)] if isinstance(obj, type) \
        else [obj] if isinstance(obj, types.FunctionType) else []
    for fn in functions:
        live = fn.__code__
        twin = compiled.get(getattr(live, "co_qualname", live.co_name))
        if twin is None or not _same(live, twin):
            return True
        owner = compiled.get(live.co_qualname.rpartition(".")[0]) if "." in live.co_qualname else None
        defaults = fn.__defaults__
        if owner is not None and defaults and all(isinstance(d, (int, float, str, bool)) for d in defaults) \
                and defaults not in owner.co_consts:
            return True  # a constant default changed in the class body (e.g. hidden=32 -> 64)
    return False
