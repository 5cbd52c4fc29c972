"""Your own network: a class or factory function from your Python file, recorded so the run can rebuild it.

    is_user_ref(name)                   "nets/my_net.py:Network" or "mypkg.nets:Network" (registry names have no ':')
    read_code(ref, args) -> UserCode    the file's text, sha256, the name and the constructor arguments
    code_for_object(obj, args)          the same for a class or function handed to digitlab.train(config, model=obj)
    load_callable(code)                 the class / factory: the recorded text executed once per process (by sha256)
    instantiate(code, num_classes)      arguments checked against its signature, called -> an nn.Module with parameters
    check_forward(model, batch, ...)    one batch through it before anything is written: shape, NaN, where it raised
    traits_of(code)                     input_size / normalize / output, as the class (or function) declares them

Whether recorded code may run at all is digitlab.models.trust's decision: load_callable asks it for any code that this
process did not read from a file the user named, so no path can run a checkpoint's code untrusted.
Every failure inside the user's code is one UserCodeError naming the user's file and line, never digitlab's.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import linecache
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from digitlab.contract import OUTPUT_KINDS, UserCode
from digitlab.errors import ConfigError
from digitlab.io import read_limited
from digitlab.models import trust
from digitlab.models.edited import changed_since_import

PORTING_DOC = "docs/own-network.md"  # the porting table from MindSpore's nn.Cell to PyTorch's nn.Module
MAX_SOURCE_BYTES = 16 << 20  # a network's Python file: a few KB; a bigger "source" is no program to run
_LOADED: dict[str, Callable[..., Any]] = {}  # key (sha256, or id for sourceless objects) -> class / factory
_OBJECT_CODES: dict[str, UserCode] = {}  # ref -> the code of an object handed to digitlab.train in this process
_NAMED: set[str] = set()  # sha256 of code this process read from a file the user named (theirs to run)


class UserCodeError(ConfigError):
    """The user's own model failed: a one-line message naming their file and line."""


def is_user_ref(name: str) -> bool:
    return ":" in name


def _key(code: UserCode) -> str:
    """The in-process cache key: the text and the file it was read from (two folders may hold the same net.py beside
    different sibling modules), or the object's identity for code without a file."""
    return f"{code.sha256}:{code.file}" if code.sha256 else f"object:{code.ref}"


def read_code(ref: str, args: dict[str, Any]) -> UserCode:
    """`path/to/file.py:Name` or `package.module:Name` -> its recorded source. Nothing is executed here."""
    if ref in _OBJECT_CODES and _OBJECT_CODES[ref].args == args:
        return _OBJECT_CODES[ref]
    where, _, attr = ref.rpartition(":")
    if not where or not attr.isidentifier():
        raise ConfigError(f"--model {ref}: write FILE.py:Name (a class or function in your file) or package.module:Name")
    package = ""
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where).expanduser()
        if not path.is_file():
            raise ConfigError(f"--model {ref}: {path} is not a file; give the path of your Python file")
    else:
        try:
            spec = importlib.util.find_spec(where)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"--model {ref}: cannot find module '{where}' ({exc})") from None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ConfigError(f"--model {ref}: no Python module '{where}' on the path; give FILE.py:Name instead")
        path, package = Path(spec.origin), spec.parent or ""
    raw = read_limited(path, MAX_SOURCE_BYTES, lambda problem: ConfigError(f"--model {ref}: {problem}"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"--model {ref}: {path} is not UTF-8 text; save your Python file as UTF-8") from None
    code = UserCode(ref=ref, attr=attr, file=str(path.resolve()), package=package, text=text,
                    sha256=hashlib.sha256(text.encode()).hexdigest(), args=dict(args))
    _NAMED.add(code.sha256)
    return code


def code_for_object(obj: Callable[..., Any], args: dict[str, Any]) -> UserCode:
    """A class or factory from the caller's Python session. Its file is recorded when Python can find it as it was
    imported; a class typed into a notebook cell (or from a file edited since its import) trains in this process, and
    its checkpoints say why they cannot rebuild it."""
    if not callable(obj):
        raise ConfigError(f"model={obj!r}: give a torch.nn.Module subclass or a function returning one")
    attr = getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__))
    module = sys.modules.get(obj.__module__)
    try:
        file = inspect.getsourcefile(obj) or ""
        text = Path(file).read_text(encoding="utf-8") if file and Path(file).is_file() else ""
    except (TypeError, OSError, UnicodeDecodeError):
        file, text = "", ""
    why = ""
    if text and changed_since_import(obj, text):
        why = (f"{Path(file).name} was edited after {attr} was imported, so its text is not the class that trained; "
               "re-import it (importlib.reload) to record it, or `digitlab export RUN --format onnx` for a portable "
               "model")
    elif text and "." not in attr and getattr(module, attr, None) is obj:
        spec = getattr(module, "__spec__", None)
        code = UserCode(ref=f"{file}:{attr}", attr=attr, file=str(Path(file).resolve()),
                        package=(spec.parent or "") if spec is not None and obj.__module__ != "__main__" else "",
                        text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), args=dict(args))
        _LOADED[_key(code)] = obj
        _OBJECT_CODES[code.ref] = code
        _NAMED.add(code.sha256)
        return code
    # keyed by the object's identity: a notebook cell run again defines another class of the same name
    code = UserCode(ref=f"<{obj.__module__}>:{attr}@{id(obj):x}", attr=attr, file="", package="", text="", sha256="",
                    args=dict(args), missing=why or f"{attr} was defined where Python keeps no source file (a notebook "
                    "cell or the interpreter), so this checkpoint cannot rebuild it; `digitlab export RUN --format "
                    "onnx` gives a portable model")
    _LOADED[_key(code)] = obj
    _OBJECT_CODES[code.ref] = code
    return code


def printable(text: str) -> str:
    """Text safe to show in a terminal: control characters (an ESC that would hide a line) escaped, \n and \t kept."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else f"\\x{ord(ch):02x}" if ord(ch) < 256
                   else f"\\u{ord(ch):04x}" for ch in text)


def _mindspore_imports(text: str, filename: str) -> bool:
    try:
        tree = ast.parse(text, filename)
    except SyntaxError:
        return False  # executing it reports the syntax error with its line
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    return any(name == "mindspore" or name.startswith("mindspore.") for name in names)


def where_in_user_code(exc: BaseException, code: UserCode) -> str:
    """'my_net.py:12 in forward' for the innermost frame of the user's file in exc's traceback ('' if none)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == _filename(code)]
    if isinstance(exc, SyntaxError) and exc.filename == _filename(code):
        return f"{code.display.rsplit(':', 1)[0]}:{exc.lineno}"
    return f"{code.display.rsplit(':', 1)[0]}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""


def failed(code: UserCode, doing: str, exc: BaseException) -> UserCodeError:
    where = where_in_user_code(exc, code) or code.display
    detail = exc.msg if isinstance(exc, SyntaxError) else (str(exc).strip().splitlines() or [""])[0]
    return UserCodeError(f"{where}: {type(exc).__name__} while {doing}: {detail[:300]}")


def _filename(code: UserCode) -> str:
    """The name tracebacks show: the real path of the user's own file; for code from a checkpoint a made-up name, so a
    recorded path never reaches linecache for a real file."""
    if code.sha256 in _NAMED and code.file:
        return code.file
    return f"<recorded {code.sha256[:12]}>/{Path(code.file).name or 'model.py'}"


def load_callable(code: UserCode) -> Callable[..., Any]:
    """The class or factory the code defines: its recorded text executed once per process (cached by sha256) as a
    fresh module, with the original file's folder on sys.path meanwhile so its sibling imports resolve."""
    key = _key(code)
    if key in _LOADED:
        return _LOADED[key]
    if not code.text and code.missing:  # a class typed in a notebook: nothing to run elsewhere (an empty file runs)
        raise UserCodeError(f"{code.display}: {code.missing}")
    if code.sha256 not in _NAMED:  # recorded code (from a checkpoint): somebody else's program until trusted
        trust.require(code, code.display)
    filename = _filename(code)
    if _mindspore_imports(code.text, filename):
        raise UserCodeError(f"{code.display.rsplit(':', 1)[0]} imports mindspore: digitlab trains PyTorch modules; port "
                            "it (nn.Cell -> nn.Module, construct -> forward, nn.Dense -> nn.Linear, SequentialCell -> "
                            f"Sequential, ...): the table and the quick start's Network ported are in {PORTING_DOC}")
    # tracebacks and error lines show the recorded text, even where the file on disk was edited since
    lines = code.text.splitlines(keepends=True)
    linecache.cache[filename] = (len(code.text), None, lines, filename)
    name = f"digitlab_user_{code.sha256[:16]}_{len(_LOADED)}"  # one module per load: the same text may load twice
    module = types.ModuleType(name)
    module.__file__, module.__package__ = filename, code.package or None
    folder = _sibling_folder(code)
    sys.modules[name] = module  # dataclasses, pickling and typing look modules up by name
    before = set(sys.modules)
    if folder:
        sys.path.append(folder)  # after everything else: it can add the user's own modules, never shadow a library
    try:
        exec(compile(code.text, filename, "exec"), module.__dict__)  # noqa: S102 - trusted by the caller (trust.py)
    except BaseException as exc:  # noqa: BLE001 - anything the user's module does on import is theirs
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise failed(code, "loading the file", exc) from None
    finally:
        if folder:
            sys.path.remove(folder)
            _forget_siblings(folder, before)
    obj = getattr(module, code.attr, None)
    if obj is None or not callable(obj):
        found = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                 and v.__module__ == name]
        raise UserCodeError(f"{code.display}: the file defines no class or function '{code.attr}'"
                            + (f"; its nn.Module classes: {', '.join(found)}" if found else ""))
    _LOADED[key] = obj
    return obj


def _sibling_folder(code: UserCode) -> str:
    """The folder whose modules the file may import: only that of a file this process read because the user named
    it, or the one the trust list recorded for this sha256 when the user trained or trusted it. A folder named inside
    a checkpoint alone is never put on sys.path."""
    if not code.file:
        return ""
    entry = trust.trusted_list().get(code.sha256)
    if code.sha256 in _NAMED or (entry is not None and code.file in trust.trusted_files(entry)):
        folder = Path(code.file).parent
        return str(folder) if folder.is_dir() else ""
    return ""


def _forget_siblings(folder: str, before: set[str]) -> None:
    """Drop the user's sibling modules this load imported from sys.modules: another run's file may import a different
    `blocks.py` of the same name, and must get its own, not this one."""
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules.get(name), "__file__", "") or "").startswith(folder + "/"):
            sys.modules.pop(name, None)


def _parameters(obj: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    if isinstance(obj, type) and obj.__init__ is nn.Module.__init__:
        return {}  # a module without its own __init__ takes no arguments (nn.Module's *args, **kwargs refuse them)
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return {}


def call_arguments(obj: Callable[..., Any], code: UserCode, num_classes: int) -> dict[str, Any]:
    """model.args checked against the signature (one line listing what it takes), plus num_classes when accepted."""
    params = _parameters(obj)
    any_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes = ", ".join(n if p.default is p.empty else f"{n}={p.default!r}" for n, p in named.items()) or "no arguments"
    if "num_classes" in code.args:
        raise ConfigError(f"model.args.num_classes: {code.display} is given the data's class count; do not set it")
    unknown = [a for a in code.args if a not in named and not any_kw]
    if unknown:
        raise ConfigError(f"model.args.{unknown[0]}: {code.display} takes no argument '{unknown[0]}'; it takes: {takes}")
    for arg, value in code.args.items():  # a value of another type than the default's: said here, not by their code
        default = named[arg].default if arg in named else inspect.Parameter.empty
        kind = type(default)
        if default is not inspect.Parameter.empty and default is not None and kind in (bool, int, float, str, list, tuple) \
                and not isinstance(value, kind) and not (kind is float and type(value) is int) \
                and not (kind in (list, tuple) and isinstance(value, list)):
            article = "an" if kind.__name__[0] in "aeiou" else "a"
            raise ConfigError(f"model.args.{arg}: {code.display} expects {article} {kind.__name__} (default "
                              f"{default!r}), got {value!r}")
    missing = [n for n, p in named.items() if p.default is p.empty and n not in code.args and n != "num_classes"]
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_ONLY and p.default is p.empty]
    if missing or positional:
        need = (missing or positional)[0]
        raise ConfigError(f"{code.display} needs argument '{need}': set it with --set model.args.{need}=VALUE "
                          f"(it takes: {takes})")
    kwargs = dict(code.args)
    if "num_classes" in named or any_kw:
        kwargs["num_classes"] = num_classes
    return kwargs


def instantiate(code: UserCode, num_classes: int) -> nn.Module:
    """A fresh model from the code: the class (or factory) called with model.args (+ num_classes when it takes it)."""
    obj = load_callable(code)
    kwargs = call_arguments(obj, code, num_classes)
    try:
        model = obj(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's constructor
        raise failed(code, "building the model", exc) from None
    if not isinstance(model, nn.Module):
        raise UserCodeError(f"{code.display} returned a {type(model).__name__}, not a torch.nn.Module")
    if not any(True for _ in model.parameters()):
        raise UserCodeError(f"{code.display}: the model has no parameters, so there is nothing to train (layers must "
                            "be attributes of the module, e.g. self.fc = nn.Linear(784, 10))")
    return model


def check_forward(model: nn.Module, batch: torch.Tensor, num_classes: int, code: UserCode) -> None:
    """One batch through a freshly built user model (in the mode it is given: training uses a throwaway instance)."""
    try:
        with torch.no_grad():
            out = model(batch)
    except Exception as exc:  # noqa: BLE001 - the user's forward
        raise failed(code, f"running a batch of shape {tuple(batch.shape)}", exc) from None
    n = batch.shape[0]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserCodeError(f"{code.display}: forward returns {got} for a batch of {n} images; it must return "
                            f"({n}, {num_classes}): one score per class for each image")
    if not torch.isfinite(out).all():
        raise UserCodeError(f"{code.display}: forward returns NaN or inf on the first batch of training images; "
                            "check its operations (log of a negative or zero, division by zero, ...)")


def traits_of(code: UserCode) -> dict[str, Any]:
    """What the pipeline must feed the model, from attributes the class (or function) declares: input_size (28 or
    32, ...), normalize (the dataset's mean/std: True), output ("logits" or "log_probs")."""
    obj = load_callable(code)
    size, normalize, output = (getattr(obj, a, None) for a in ("input_size", "normalize", "output"))
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and 4 <= size <= 1024):
        raise UserCodeError(f"{code.display}: input_size = {size!r}; it must be a whole number of pixels (28, 32, ...)")
    if normalize is not None and not isinstance(normalize, bool):
        raise UserCodeError(f"{code.display}: normalize = {normalize!r}; it must be True or False")
    if output is not None and output not in OUTPUT_KINDS:
        raise UserCodeError(f"{code.display}: output = {output!r}; it must be one of {', '.join(OUTPUT_KINDS)}")
    return {"input_size": size, "normalize": normalize, "output": output}
