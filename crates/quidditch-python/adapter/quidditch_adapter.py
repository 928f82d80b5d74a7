"""Quidditch's shared Python runtime: the adapter of the WIT world `quidditch:udf/python-runtime`.

componentize-py builds this module, CPython and the standard library modules below into ONE
component per machine and engine version; every Python UDF runs on it. A UDF's own source is
data: the host calls `load-module(source)` on each fresh instance before anything else, which
runs the module in a new module object, so module globals never outlive one evaluation context.
The user writes plain functions:

    def filter(doc, params) -> bool: ...
    def score(doc, params) -> float: ...

and this adapter implements the component exports (`filter`, `score`, `filter-block`,
`score-block`, the older `filter-batch`/`score-batch`, `capabilities`) on top of them.

Parameters after `doc` are UDF parameters: one named `params` receives a mapping of every
parameter; any other name receives that parameter's value (its annotation and default declare
the parameter's type and default to the server; a parameter the query leaves out and the
server has no default for keeps the Python default).

The block exports evaluate a block of documents per call. A field is fetched for the whole
block with ONE `get-field-block` host call, lazily on first access, then cached for the block:
numbers and booleans arrive packed (little-endian bytes plus a presence bitmap) and are unpacked
with `memoryview`, so the crossing costs no Python object per value beyond the value itself.

Everything at module level here runs once, when the runtime is built (componentize-py
pre-initialises the interpreter and snapshots it): the standard library modules UDFs use are
imported then, so a UDF importing them only looks them up in `sys.modules`.
"""

import builtins
import json
import linecache
import sys
import types as _pytypes
from array import array

import wit_world
from componentize_py_types import Err
from wit_world import ModuleError
from wit_world.imports import block, host
from wit_world.imports.block import Column_Bools, Column_Floats, Column_Ints, Column_Values
from wit_world.imports.types import LogLevel, Value_Json

# The standard library modules docs/python-udfs.md lists as working, imported into the snapshot.
_PRELOADED = (
    "re math cmath difflib collections itertools functools statistics decimal fractions string "
    "textwrap unicodedata datetime calendar zoneinfo hashlib hmac base64 binascii zlib gzip "
    "struct heapq bisect operator copy pickle dataclasses enum typing csv io html html.parser "
    "xml.etree.ElementTree fnmatch shlex pprint ipaddress urllib.parse uuid random secrets traceback"
).split()
for _name in _PRELOADED:
    try:
        __import__(_name)
    except ImportError:  # a module this CPython build lacks stays a UDF's own import error
        pass
import traceback  # noqa: E402

_MISSING = object()
_LEVELS = {
    "debug": LogLevel.DEBUG,
    "info": LogLevel.INFO,
    "warn": LogLevel.WARN,
    "warning": LogLevel.WARN,
    "error": LogLevel.ERROR,
}

# True while a UDF function runs. Output of the UDF's module-level code (run by `load-module`
# for every instance) and of the runtime build is dropped, as it never reached a query's log.
_live = False


def log(message, level="info"):
    """Sends `message` to the server log (levels: debug, info, warn, error)."""
    if _live:
        host.log(_LEVELS.get(str(level).lower(), LogLevel.INFO), str(message))


class _LogWriter:
    """`print` (sys.stdout) and sys.stderr, captured line by line into the server log."""

    def __init__(self, level):
        self._level = level
        self._pending = ""

    def write(self, text):
        text = str(text)
        if not _live:
            return len(text)
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

# The module name UDF sources have always run under (`__name__`).
USER_MODULE = "quidditch_user_udf"
_user = None


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
    fetched for the whole block on first access, with one host call.
    """

    __slots__ = ("_ctxs", "_docs", "_columns", "_i")

    def __init__(self, ctxs=None, docs=None):
        self._ctxs = ctxs  # filter-batch/score-batch: the ctx of every document
        self._docs = docs  # filter-block/score-block: segment doc ids (memoryview of u32)
        self._columns = {}
        self._i = 0

    def _fetch(self, path):
        if self._docs is None:
            column = [
                _MISSING if v is None else (json.loads(v.value) if v.__class__ is Value_Json else v.value)
                for v in host.get_field_batch(self._ctxs, path)
            ]
        else:
            column = _unpack(block.get_field_block(path))
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

    def _ctx(self):
        if self._docs is None:
            return self._ctxs[self._i]
        return (self._i << 32) | self._docs[self._i]

    @property
    def id(self):
        return host.document_id(self._ctx())

    @property
    def score(self):
        return host.get_score(self._ctx())

    def __repr__(self):
        return f"Document(id={self.id!r})"


def _unpack(column):
    """A `get-field-block` column as a list of Python values (`_MISSING` where absent)."""
    cls = column.__class__
    if cls is Column_Values:
        return [
            _MISSING if v is None else (json.loads(v.value) if v.__class__ is Value_Json else v.value)
            for v in column.value
        ]
    packed = column.value
    if cls is Column_Ints:
        values = memoryview(packed.data).cast("q").tolist()
    elif cls is Column_Floats:
        values = memoryview(packed.data).cast("d").tolist()
    else:
        values = list(map(bool, packed.data))
    if packed.missing:
        present = packed.present
        for i in range(len(values)):
            if not (present[i >> 3] >> (i & 7)) & 1:
                values[i] = _MISSING
    return values


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


_FILTER = None
_SCORE = None


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


def _capabilities():
    # The batched forms are listed too, so the host calls them for blocks of documents.
    caps = []
    if _FILTER is not None:
        caps += ["filter", "filter-batch"]
    if _SCORE is not None:
        caps += ["score", "score-batch"]
    return caps


def _module_error(exc, source):
    """A `module-error` for an exception raised by the module's top-level code."""
    line = 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<udf>":
            line = tb.tb_lineno
        tb = tb.tb_next
    text = "".join(traceback.format_exception(exc))
    # Keep the header and the frames from the UDF's module on (the adapter's frame is noise).
    at = text.find('  File "<udf>"')
    if text.startswith("Traceback (most recent call last):") and at > 0:
        text = "Traceback (most recent call last):\n" + text[at:]
    return ModuleError("exception", _describe(exc), line, 0, text)


def _load(source):
    global _user, _FILTER, _SCORE, _live
    try:
        code = compile(source, "<udf>", "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError, TabError too: CPython's own parser speaks
        return ModuleError("syntax", str(exc.msg), exc.lineno or 0, exc.offset or 0, "")
    # Tracebacks show the UDF's source lines.
    linecache.cache["<udf>"] = (len(source), None, source.splitlines(True), "<udf>")
    module = _pytypes.ModuleType(USER_MODULE)
    module.__file__ = "<udf>"
    sys.modules[USER_MODULE] = module
    _live = False
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # SystemExit too: sys.exit() at import fails the load
        return _module_error(exc, source)
    _user = module
    _FILTER = _entry("filter")
    _SCORE = _entry("score")
    return None


class WitWorld(wit_world.WitWorld):
    def load_module(self, source):
        if _user is not None:
            raise Err(ModuleError("exception", "RuntimeError: a module is already loaded in this instance", 0, 0, ""))
        error = _load(source)
        if error is not None:
            raise Err(error)
        return _capabilities()

    def capabilities(self):
        return _capabilities()

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

    def filter_block(self, docs):
        global _live
        if _FILTER is None:
            raise Err("not implemented")
        _live = True
        ids = memoryview(docs).cast("I")
        doc = BlockDocument(docs=ids)
        try:
            fn = _FILTER.fn
            args, kwargs = _FILTER.arguments()
            out = []
            append = out.append
            if kwargs:
                for i in range(len(ids)):
                    doc._i = i
                    append(fn(doc, *args, **kwargs))
            elif args:
                for i in range(len(ids)):
                    doc._i = i
                    append(fn(doc, *args))
            else:
                for i in range(len(ids)):
                    doc._i = i
                    append(fn(doc))
            try:
                return bytes(out)  # bools (and ints 0/1) in one C call
            except (TypeError, ValueError):
                return bytes(map(_as_bool, out))
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise _batch_failure(exc, doc)

    def score_block(self, docs):
        global _live
        if _SCORE is None:
            raise Err("not implemented")
        _live = True
        ids = memoryview(docs).cast("I")
        doc = BlockDocument(docs=ids)
        try:
            fn = _SCORE.fn
            args, kwargs = _SCORE.arguments()
            out = []
            append = out.append
            if kwargs:
                for i in range(len(ids)):
                    doc._i = i
                    r = fn(doc, *args, **kwargs)
                    append(r if r.__class__ is float else _as_float(r))
            elif args:
                for i in range(len(ids)):
                    doc._i = i
                    r = fn(doc, *args)
                    append(r if r.__class__ is float else _as_float(r))
            else:
                for i in range(len(ids)):
                    doc._i = i
                    r = fn(doc)
                    append(r if r.__class__ is float else _as_float(r))
            return array("d", out).tobytes()
        except BaseException as exc:  # SystemExit too: sys.exit() fails the call
            raise _batch_failure(exc, doc)
