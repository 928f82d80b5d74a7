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
block with ONE `get-field-block` host call, then cached for the block: numbers and booleans
arrive packed (little-endian bytes plus a presence bitmap) and are unpacked with `memoryview`,
so the crossing costs no Python object per value beyond the value itself. The per-document loop
runs in C (`map` over the block): when the function reads `doc` only as `doc["f"]`,
`doc.get("f"[, default])` and `"f" in doc` with constant names (its *field plan*, found in its
AST at upload), `doc` is a plain dict refilled per document from the block's columns, so each
read is a C dict lookup; otherwise `doc` is a `BlockDocument` moved along the block.

Uploads call `prepare-module`, which compiles the source once (CPython's own syntax errors) and
returns the code object marshalled with the field plans; every later instance loads that with
`load-prepared` and runs it, with no parsing or compiling at instance start.

Everything at module level here runs once, when the runtime is built (componentize-py
pre-initialises the interpreter and snapshots it): the standard library modules UDFs use are
imported then, so a UDF importing them only looks them up in `sys.modules`.
"""

import ast
import builtins
import copy
import gc
import json
import linecache
import marshal
import sys
import types as _pytypes
from array import array
from functools import partial
from itertools import repeat

import wit_world
from componentize_py_types import Err
from wit_world import ModuleError, PreparedModule
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
    """A `get-field-block` column as a sequence of Python values (`_MISSING` where absent)."""
    return _unpack_counted(column)[0]


def _unpack_counted(column):
    """`_unpack` and whether some document of the block lacks the field. A packed column
    every document has stays a `memoryview`: its values become objects one at a time, as the
    block's loop reaches them."""
    cls = column.__class__
    if cls is Column_Values:
        values = [
            _MISSING if v is None else (json.loads(v.value) if v.__class__ is Value_Json else v.value)
            for v in column.value
        ]
        return values, _MISSING in values
    packed = column.value
    values = memoryview(packed.data).cast("q" if cls is Column_Ints else "d" if cls is Column_Floats else "?")
    if not packed.missing:
        return values, False
    values = values.tolist()
    present = packed.present
    for i in range(len(values)):
        if not (present[i >> 3] >> (i & 7)) & 1:
            values[i] = _MISSING
    return values, True


def _field_plan(fn_node):
    """The constant field names a `filter`/`score` definition reads from its `doc` parameter,
    when `doc["f"]`, `doc.get("f")`, `doc.get("f", default)` and `"f" in doc` (or `not in`)
    are its only uses; None when `doc` is used any other way (passed on, a computed name,
    `doc.id`, reassigned, shadowed in a nested function, ...), which needs a `BlockDocument`."""
    args = fn_node.args
    positional = args.posonlyargs + args.args
    if not positional:
        return None
    name = positional[0].arg
    fields = []
    allowed = set()
    for node in ast.walk(fn_node):
        if node.__class__ is ast.Subscript:
            if node.ctx.__class__ is not ast.Load:  # `doc["f"] = v`, `del doc["f"]`
                continue
            target, key = node.value, node.slice
        elif node.__class__ is ast.Call and not node.keywords and 1 <= len(node.args) <= 2:
            func = node.func
            if func.__class__ is not ast.Attribute or func.attr != "get":
                continue
            if any(a.__class__ is ast.Starred for a in node.args):
                continue
            target, key = func.value, node.args[0]
        elif node.__class__ is ast.Compare and len(node.ops) == 1 and node.ops[0].__class__ in (ast.In, ast.NotIn):
            target, key = node.comparators[0], node.left
        else:
            continue
        if (
            target.__class__ is ast.Name
            and target.id == name
            and target.ctx.__class__ is ast.Load
            and key.__class__ is ast.Constant
            and key.value.__class__ is str
        ):
            allowed.add(id(target))
            if key.value not in fields:
                fields.append(key.value)
    for node in ast.walk(fn_node):
        if node.__class__ is ast.Name and node.id == name and id(node) not in allowed:
            return None
        if node.__class__ is ast.arg and node.arg == name and node is not positional[0]:
            return None
    return tuple(fields)


def _module_scope(tree):
    """The nodes of the module's own scope: not the bodies of functions, lambdas and classes
    (whose local names do not rebind module globals), but their definitions themselves."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if node.__class__ not in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _field_plans(tree):
    """`{name: (def, plan)}` of the module's top-level `def filter`/`def score`; no entry for
    a name defined any other way or bound more than once (conditionally, decorated, assigned,
    imported, declared `global`, ...), where the function that runs may not be the one read."""
    names = ("filter", "score")
    defs = {}
    rebound = set()
    for node in _module_scope(tree):
        cls = node.__class__
        if cls is ast.FunctionDef and node.name in names:
            if node.name in defs or node.decorator_list or not any(node is top for top in tree.body):
                rebound.add(node.name)
            defs[node.name] = node
        elif cls in (ast.AsyncFunctionDef, ast.ClassDef):
            rebound.add(node.name)
        elif cls is ast.Name and node.ctx.__class__ is not ast.Load:
            rebound.add(node.id)
        elif cls in (ast.Import, ast.ImportFrom):
            rebound.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in ast.walk(tree):
        if node.__class__ in (ast.Global, ast.Nonlocal):
            rebound.update(node.names)
        elif node.__class__ is ast.NamedExpr:  # `:=` in a comprehension binds outside it
            rebound.add(node.target.id)
    return {k: (defs[k], _field_plan(defs[k])) for k in names if k in defs and k not in rebound}


class _Specialiser(ast.NodeTransformer):
    """Rewrites a function with a field plan into one that takes the planned fields' values
    in place of `doc` (for blocks where every document has them all): `doc["f"]` and
    `doc.get("f"[, constant])` become the value, `"f" in doc` True. A `get` default that is
    not a constant (evaluating it could have effects) leaves the function as it is."""

    def __init__(self, doc, names):
        self.doc = doc
        self.names = names
        self.ok = True

    def _field(self, target, key):
        if target.__class__ is ast.Name and target.id == self.doc and key.__class__ is ast.Constant:
            return self.names.get(key.value)
        return None

    def visit_Subscript(self, node):
        name = self._field(node.value, node.slice) if node.ctx.__class__ is ast.Load else None
        if name is None:
            return self.generic_visit(node)
        return ast.copy_location(ast.Name(name, ast.Load()), node)

    def visit_Call(self, node):
        func = node.func
        if func.__class__ is ast.Attribute and func.attr == "get" and node.args and not node.keywords:
            name = self._field(func.value, node.args[0])
            if name is not None:
                if len(node.args) == 2 and node.args[1].__class__ is not ast.Constant:
                    self.ok = False
                return ast.copy_location(ast.Name(name, ast.Load()), node)
        return self.generic_visit(node)

    def visit_Compare(self, node):
        if len(node.ops) == 1 and node.ops[0].__class__ in (ast.In, ast.NotIn):
            if self._field(node.comparators[0], node.left) is not None:
                return ast.copy_location(ast.Constant(node.ops[0].__class__ is ast.In), node)
        return self.generic_visit(node)


def _specialise(fn_node, fields):
    """The code object of `fn_node` rewritten by `_Specialiser`, or None."""
    used = {n.id for n in ast.walk(fn_node) if n.__class__ is ast.Name}
    used |= {a.arg for a in ast.walk(fn_node) if a.__class__ is ast.arg}
    names = {}
    for i, path in enumerate(fields):
        name = f"_quidditch_field_{i}"
        if name in used:
            return None
        names[path] = name
    node = copy.deepcopy(fn_node)
    args = node.args
    doc = (args.posonlyargs + args.args)[0].arg
    rewriter = _Specialiser(doc, names)
    node.body = [rewriter.visit(stmt) for stmt in node.body]
    if not rewriter.ok:
        return None
    values = [ast.arg(name) for name in names.values()]
    if args.posonlyargs:
        args.posonlyargs = values + args.posonlyargs[1:]
    else:
        args.args = values + args.args[1:]
    # Only the code object is used: defaults come from the real function.
    args.defaults = []
    args.kw_defaults = [None] * len(args.kwonlyargs)
    node.decorator_list = []
    node.returns = None
    for a in args.posonlyargs + args.args + args.kwonlyargs:
        a.annotation = None
    module = ast.fix_missing_locations(ast.Module([node], []))
    code = compile(module, "<udf>", "exec", dont_inherit=True)
    return next(c for c in code.co_consts if c.__class__ is _pytypes.CodeType and c.co_name == node.name)


class _Entry:
    """How to call one user function: which UDF parameters it takes, and how; `fields` is its
    field plan (`_field_plan`) or None."""

    def __init__(self, fn, fields=None, fast=None):
        self.fn = fn
        self.fields = fields
        self.fast = fast  # `fn` specialised to its planned fields (`_specialise`)
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


def _entry(name, plans, read_document):
    fn = getattr(_user, name, None)
    if not callable(fn):
        return None
    # The plan describes the top-level `def`; a function object from elsewhere has none.
    code = getattr(fn, "__code__", None)
    plan = plans.get(name) if code is not None and code.co_filename == "<udf>" and fn.__name__ == name else None
    if plan is None:
        return _Entry(fn)
    fields, fast_code = plan
    if fields and not read_document:
        # A plan fetches its fields at block start, read or not; without the permission a
        # fetch traps, which must happen only when the function really reads (lazily, through
        # a `BlockDocument`).
        return _Entry(fn)
    fast = None
    if fast_code is not None:
        defaults = fn.__defaults__
        if defaults is not None and len(defaults) == code.co_argcount:
            defaults = defaults[1:]  # the default of `doc`
        fast = _pytypes.FunctionType(fast_code, fn.__globals__, name, defaults or None)
        fast.__kwdefaults__ = fn.__kwdefaults__
    return _Entry(fn, fields, fast)


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


def _block_failure(exc, ids, position):
    """`_batch_failure` for document `position` of a `filter-block`/`score-block` call."""
    try:
        doc_id = host.document_id((position << 32) | ids[position])
    except Exception:  # the error itself matters more than the id
        doc_id = "?"
    return Err(f"{_describe(exc)} (document {doc_id!r})")


def _block_calls(entry, ids):
    """How the block's loop calls the user function: (function, the iterables of its leading
    arguments). When no document of the block lacks a planned field: the specialised function
    over the columns, or the function with a plain dict refilled from the columns as `doc`;
    else the function with a `BlockDocument` moved from document to document."""
    n = len(ids)
    fields = entry.fields
    if fields is not None:
        columns = []
        complete = True
        for path in fields:
            values, missing = _unpack_counted(block.get_field_block(path))
            columns.append(values)
            complete = complete and not missing
        if complete:
            doc = {}
            if not fields:
                return entry.fn, (repeat(doc, n),)
            if entry.fast is not None:
                return entry.fast, columns
            if len(fields) == 1:
                (k0,) = fields
                return entry.fn, ((doc for doc[k0] in columns[0]),)
            rows = (doc for row in zip(*columns) if not doc.update(zip(fields, row)))
            return entry.fn, (rows,)
    doc = BlockDocument(docs=ids)
    return entry.fn, ((doc for doc._i in range(n)),)


def _run_block(entry, docs):
    """Calls the user function for every document of a block, in C (`map`): its results in
    order, or `Err` naming the document that raised."""
    global _live
    if entry is None:
        raise Err("not implemented")
    _live = True
    ids = memoryview(docs).cast("I")
    results = []
    try:
        args, kwargs = entry.arguments()
        fn, leading = _block_calls(entry, ids)
        call = partial(fn, **kwargs) if kwargs else fn
        # `extend` keeps the results appended before an exception: their count is the
        # position of the document that raised.
        results.extend(map(call, *leading, *map(repeat, args)))
        return ids, results
    except BaseException as exc:  # SystemExit too: sys.exit() fails the call
        raise _block_failure(exc, ids, len(results))


_FLOAT = {float}


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


# Tag of `prepare-module`'s output (bumped when its layout changes).
_PREPARED_TAG = "quidditch-python-prepared-1"


def _compile(source):
    """(code object, field plans) of `source`, or a `module-error` from CPython's parser."""
    try:
        tree = ast.parse(source, "<udf>", "exec")
        code = compile(tree, "<udf>", "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError, TabError too: CPython's own parser speaks
        return ModuleError("syntax", str(exc.msg), exc.lineno or 0, exc.offset or 0, "")
    plans = {}
    for name, (node, fields) in _field_plans(tree).items():
        if fields is not None:
            plans[name] = (fields, _specialise(node, fields) if fields else None)
    return code, plans


def _load(source):
    compiled = _compile(source)
    if compiled.__class__ is ModuleError:
        return compiled
    return _run(compiled[0], compiled[1], source)


def _run(code, plans, source, read_document=True):
    global _user, _FILTER, _SCORE, _live
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
    _FILTER = _entry("filter", plans, read_document)
    _SCORE = _entry("score", plans, read_document)
    return None


class WitWorld(wit_world.WitWorld):
    def load_module(self, source):
        if _user is not None:
            raise Err(ModuleError("exception", "RuntimeError: a module is already loaded in this instance", 0, 0, ""))
        error = _load(source)
        if error is not None:
            raise Err(error)
        return _capabilities()

    def prepare_module(self, source):
        if _user is not None:
            raise Err(ModuleError("exception", "RuntimeError: a module is already loaded in this instance", 0, 0, ""))
        compiled = _compile(source)
        if compiled.__class__ is ModuleError:
            raise Err(compiled)
        code, plans = compiled
        error = _run(code, plans, source)
        if error is not None:
            raise Err(error)
        return PreparedModule(marshal.dumps((_PREPARED_TAG, code, plans)), _capabilities())

    def load_prepared(self, prepared, source, read_document):
        if _user is not None:
            raise Err(ModuleError("exception", "RuntimeError: a module is already loaded in this instance", 0, 0, ""))
        try:
            tag, code, plans = marshal.loads(prepared)
            if tag != _PREPARED_TAG:
                raise ValueError(tag)
        except Exception as exc:
            raise Err(ModuleError("exception", f"the prepared module is not from this runtime: {_describe(exc)}", 0, 0, ""))
        error = _run(code, plans, source, read_document)
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
        ids, results = _run_block(_FILTER, docs)
        try:
            return bytes(results)  # bools (and ints 0..255) in one C call
        except (TypeError, ValueError):
            return bytes(map(_as_bool, results))

    def score_block(self, docs):
        ids, results = _run_block(_SCORE, docs)
        if set(map(type, results)) <= _FLOAT:
            return array("d", results).tobytes()
        out = array("d")
        for position, r in enumerate(results):
            try:
                out.append(r if r.__class__ is float else _as_float(r))
            except BaseException as exc:
                raise _block_failure(exc, ids, position)
        return out.tobytes()


# Everything allocated so far (the interpreter, the adapter, the preloaded modules) lives as
# long as the runtime: the collector never needs to walk it, and not walking it keeps every
# instance from touching (copying) the pre-initialised heap's pages for nothing.
gc.collect()
gc.freeze()
