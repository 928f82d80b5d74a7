"""Quidditch's Python UDF adapter: maps the WIT world `quidditch:udf/udf` onto a user module.

The server compiles this module together with the user's source (saved as
`quidditch_user_udf.py`) with componentize-py. The user writes plain functions:

    def filter(doc, params) -> bool: ...
    def score(doc, params) -> float: ...

and this adapter implements the component exports (`filter`, `score`, `filter-batch`,
`score-batch`, `capabilities`) on top of them.

Parameters after `doc` are UDF parameters: one named `params` receives a mapping of every
parameter; any other name receives that parameter's value as a keyword argument (its
annotation and default declare the parameter's type and default to the server).

The batched exports evaluate a block of documents per call. A field is fetched for the whole
block with ONE `get-field-batch` host call, lazily on first access, then cached for the block,
so the host crossing is paid per block and per field, not per document.

Everything at module level runs once, at build time (componentize-py pre-initialises the
interpreter and snapshots it), so host functions must not be called here.
"""

import builtins
import json
import sys

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import LogLevel, Value_Json

_MISSING = object()
_LEVELS = {
    "debug": LogLevel.DEBUG,
    "info": LogLevel.INFO,
    "warn": LogLevel.WARN,
    "warning": LogLevel.WARN,
    "error": LogLevel.ERROR,
}

# True while an export is running: host functions are only callable then (not at build time).
_live = False


def log(message, level="info"):
    """Sends `message` to the server log (levels: debug, info, warn, error)."""
    text = str(message)
    if not _live:
        # Module-level code runs at build time, where there is no host: keep the output in
        # the build log instead.
        sys.__stderr__.write(text + "\n")
        return
    host.log(_LEVELS.get(str(level).lower(), LogLevel.INFO), text)


class _LogWriter:
    """`print` (sys.stdout) and sys.stderr, captured line by line into the server log."""

    def __init__(self, level):
        self._level = level
        self._pending = ""

    def write(self, text):
        text = str(text)
        if not _live:
            return sys.__stderr__.write(text)
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            host.log(self._level, line)
        if len(self._pending) > 8192:
            self.flush()
        return len(text)

    def flush(self):
        if self._pending and _live:
            host.log(self._level, self._pending)
            self._pending = ""

    def isatty(self):
        return False


sys.stdout = _LogWriter(LogLevel.INFO)
sys.stderr = _LogWriter(LogLevel.WARN)
# `log(msg)` needs no import in a UDF.
builtins.log = log

import quidditch_user_udf as _user  # noqa: E402  (after `log` exists: user code may use it)


def _value(v):
    """A WIT `value` as a Python value: arrays and objects arrive as JSON text."""
    if v.__class__ is Value_Json:
        return json.loads(v.value)
    return v.value


def _describe(exc):
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class Params:
    """The query's parameters for this UDF (declared defaults applied): `params["name"]`."""

    __slots__ = ("_cache",)

    def __init__(self):
        self._cache = {}

    def _lookup(self, name):
        cached = self._cache.get(name, None)
        if cached is None:
            raw = host.get_param(name)
            cached = _MISSING if raw is None else _value(raw)
            self._cache[name] = cached
        return cached

    def __getitem__(self, name):
        value = self._lookup(name)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def get(self, name, default=None):
        value = self._lookup(name)
        return default if value is _MISSING else value

    def __contains__(self, name):
        return self._lookup(name) is not _MISSING

    def __repr__(self):
        known = {k: v for k, v in self._cache.items() if v is not _MISSING}
        return f"Params({known!r})"


class Document:
    """One document, read through the host one field at a time (per-document exports)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx):
        self._ctx = ctx

    def __getitem__(self, path):
        raw = host.get_field(self._ctx, path)
        if raw is None:
            raise KeyError(path)
        return _value(raw)

    def get(self, path, default=None):
        raw = host.get_field(self._ctx, path)
        return default if raw is None else _value(raw)

    def __contains__(self, path):
        return host.has_field(self._ctx, path)

    @property
    def id(self):
        return host.document_id(self._ctx)

    @property
    def score(self):
        return host.get_score(self._ctx)

    def __repr__(self):
        return f"Document(id={self.id!r})"


class _Block:
    """A block of documents evaluated in one export call; fields fetched per block, lazily."""

    __slots__ = ("ctxs", "columns")

    def __init__(self, ctxs):
        self.ctxs = ctxs
        self.columns = {}

    def column(self, path):
        col = self.columns.get(path)
        if col is None:
            col = [_MISSING if v is None else _value(v) for v in host.get_field_batch(self.ctxs, path)]
            self.columns[path] = col
        return col


class BlockDocument:
    """One document of a block: same interface as `Document`."""

    __slots__ = ("_block", "_i")

    def __init__(self, block, i):
        self._block = block
        self._i = i

    def __getitem__(self, path):
        value = self._block.column(path)[self._i]
        if value is _MISSING:
            raise KeyError(path)
        return value

    def get(self, path, default=None):
        value = self._block.column(path)[self._i]
        return default if value is _MISSING else value

    def __contains__(self, path):
        return self._block.column(path)[self._i] is not _MISSING

    @property
    def id(self):
        return host.document_id(self._block.ctxs[self._i])

    @property
    def score(self):
        return host.get_score(self._block.ctxs[self._i])

    def __repr__(self):
        return f"Document(id={self.id!r})"


class _Entry:
    """How to call one user function: which UDF parameters it takes by name."""

    def __init__(self, fn):
        self.fn = fn
        code = getattr(fn, "__code__", None)
        if code is None:
            names = ()
        else:
            nargs = code.co_argcount + code.co_kwonlyargcount
            names = code.co_varnames[1:nargs]  # [0] is the document
        self.wants_params = "params" in names
        self.named = tuple(n for n in names if n != "params")

    def arguments(self):
        params = Params()
        kwargs = {}
        if self.wants_params:
            kwargs["params"] = params
        for name in self.named:
            value = params.get(name, _MISSING)
            if value is not _MISSING:
                kwargs[name] = value
        return kwargs


def _entry(name):
    fn = getattr(_user, name, None)
    return _Entry(fn) if callable(fn) else None


_FILTER = _entry("filter")
_SCORE = _entry("score")


def _as_bool(value):
    if value.__class__ is bool:
        return value
    return bool(value)


def _as_float(value):
    if value.__class__ is float:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"score() must return a number, not {type(value).__name__}")
    return float(value)


def _batch_failure(exc, block, i):
    try:
        doc_id = host.document_id(block.ctxs[i])
    except Exception:  # the error itself matters more than the id
        doc_id = "?"
    return Err(f"{_describe(exc)} (document {doc_id!r})")


class WitWorld(wit_world.WitWorld):
    def capabilities(self):
        # The batched forms are listed too, so the host calls them for blocks of documents.
        caps = []
        if _FILTER is not None:
            caps += ["filter", "filter-batch"]
        if _SCORE is not None:
            caps += ["score", "score-batch"]
        return caps

    def filter(self, ctx):
        global _live
        if _FILTER is None:
            raise Err("not implemented")
        _live = True
        try:
            return _as_bool(_FILTER.fn(Document(ctx), **_FILTER.arguments()))
        except Exception as exc:
            raise Err(_describe(exc))

    def score(self, ctx):
        global _live
        if _SCORE is None:
            raise Err("not implemented")
        _live = True
        try:
            return _as_float(_SCORE.fn(Document(ctx), **_SCORE.arguments()))
        except Exception as exc:
            raise Err(_describe(exc))

    def filter_batch(self, ctxs):
        global _live
        if _FILTER is None:
            raise Err("not implemented")
        _live = True
        block = _Block(ctxs)
        i = 0
        try:
            fn = _FILTER.fn
            kwargs = _FILTER.arguments()
            out = []
            append = out.append
            for i in range(len(ctxs)):
                r = fn(BlockDocument(block, i), **kwargs)
                append(r if r.__class__ is bool else bool(r))
            return out
        except Exception as exc:
            raise _batch_failure(exc, block, i)

    def score_batch(self, ctxs):
        global _live
        if _SCORE is None:
            raise Err("not implemented")
        _live = True
        block = _Block(ctxs)
        i = 0
        try:
            fn = _SCORE.fn
            kwargs = _SCORE.arguments()
            out = []
            append = out.append
            for i in range(len(ctxs)):
                r = fn(BlockDocument(block, i), **kwargs)
                append(r if r.__class__ is float else _as_float(r))
            return out
        except Exception as exc:
            raise _batch_failure(exc, block, i)
