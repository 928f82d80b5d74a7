"""Quidditch's Python UDF adapter: maps the WIT world `quidditch:udf/udf` onto a user module.

The server compiles this module together with the user's source (saved as
`quidditch_user_udf.py`) with componentize-py. The user writes plain functions:

    def filter(doc, params) -> bool: ...
    def score(doc, params) -> float: ...

and this adapter implements the component exports (`filter`, `score`, `filter-batch`,
`score-batch`, `capabilities`) on top of them.

Parameters after `doc` are UDF parameters: one named `params` receives a mapping of every
parameter; any other name receives that parameter's value (its annotation and default declare
the parameter's type and default to the server; a parameter the query leaves out and the
server has no default for keeps the Python default).

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


class BlockDocument:
    """The current document of a block (batched exports): same interface as `Document`.

    One object walks the whole block (the adapter moves it from document to document), so a
    UDF must not keep `doc` after returning; copy the values it needs instead. A field is
    fetched for the whole block on first access, with one `get-field-batch` call.
    """

    __slots__ = ("_ctxs", "_columns", "_i")

    def __init__(self, ctxs):
        self._ctxs = ctxs
        self._columns = {}
        self._i = 0

    def _fetch(self, path):
        column = [
            _MISSING if v is None else (json.loads(v.value) if v.__class__ is Value_Json else v.value)
            for v in host.get_field_batch(self._ctxs, path)
        ]
        self._columns[path] = column
        return column

    def __getitem__(self, path):
        column = self._columns.get(path)
        if column is None:
            column = self._fetch(path)
        value = column[self._i]
        if value is _MISSING:
            raise KeyError(path)
        return value

    def get(self, path, default=None):
        column = self._columns.get(path)
        if column is None:
            column = self._fetch(path)
        value = column[self._i]
        return default if value is _MISSING else value

    def __contains__(self, path):
        column = self._columns.get(path)
        if column is None:
            column = self._fetch(path)
        return column[self._i] is not _MISSING

    @property
    def id(self):
        return host.document_id(self._ctxs[self._i])

    @property
    def score(self):
        return host.get_score(self._ctxs[self._i])

    def __repr__(self):
        return f"Document(id={self.id!r})"


class _Entry:
    """How to call one user function: which UDF parameters it takes, and how."""

    def __init__(self, fn):
        self.fn = fn
        code = getattr(fn, "__code__", None)
        if code is None:
            names, positional = (), 0
        else:
            names = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]  # [0]: doc
            positional = code.co_argcount - 1
        self.names = names
        self.positional = positional

    def arguments(self):
        """(args, kwargs) for one call: positional when every positional parameter has a
        value (the cheap call), keywords otherwise (Python defaults fill the gaps)."""
        params = Params()
        values = []
        for name in self.names:
            values.append(params if name == "params" else params.get(name, _MISSING))
        if _MISSING not in values[: self.positional]:
            args = tuple(values[: self.positional])
            kwargs = {n: v for n, v in zip(self.names[self.positional :], values[self.positional :]) if v is not _MISSING}
            return args, kwargs
        kwargs = {n: v for n, v in zip(self.names, values) if v is not _MISSING}
        return (), kwargs


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


def _batch_failure(exc, doc):
    try:
        doc_id = doc.id
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
            args, kwargs = _FILTER.arguments()
            return _as_bool(_FILTER.fn(Document(ctx), *args, **kwargs))
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise Err(_describe(exc))

    def score(self, ctx):
        global _live
        if _SCORE is None:
            raise Err("not implemented")
        _live = True
        try:
            args, kwargs = _SCORE.arguments()
            return _as_float(_SCORE.fn(Document(ctx), *args, **kwargs))
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise Err(_describe(exc))

    def filter_batch(self, ctxs):
        global _live
        if _FILTER is None:
            raise Err("not implemented")
        _live = True
        doc = BlockDocument(ctxs)
        try:
            fn = _FILTER.fn
            args, kwargs = _FILTER.arguments()
            out = []
            append = out.append
            if kwargs:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc, *args, **kwargs)
                    append(r if r.__class__ is bool else bool(r))
            elif args:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc, *args)
                    append(r if r.__class__ is bool else bool(r))
            else:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc)
                    append(r if r.__class__ is bool else bool(r))
            return out
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise _batch_failure(exc, doc)

    def score_batch(self, ctxs):
        global _live
        if _SCORE is None:
            raise Err("not implemented")
        _live = True
        doc = BlockDocument(ctxs)
        try:
            fn = _SCORE.fn
            args, kwargs = _SCORE.arguments()
            out = []
            append = out.append
            # Three loops rather than one with `*args, **kwargs`: unpacking empty arguments
            # costs as much as the rest of a trivial scorer's call.
            if kwargs:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc, *args, **kwargs)
                    append(r if r.__class__ is float else _as_float(r))
            elif args:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc, *args)
                    append(r if r.__class__ is float else _as_float(r))
            else:
                for i in range(len(ctxs)):
                    doc._i = i
                    r = fn(doc)
                    append(r if r.__class__ is float else _as_float(r))
            return out
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise _batch_failure(exc, doc)
