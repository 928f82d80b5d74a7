"""A runner for the official OpenSearch YAML REST tests (`../shared/opensearch-rest-tests`).

It judges like OpenSearch's own Java runner (`org.opensearch.test.rest.yaml`): each test
section runs on a clean server (indices deleted); the `skip` of `setup` and of the test are both
evaluated before `setup` runs; `setup`/`teardown` wrap every test; `do` calls are mapped to HTTP
requests through the API specs (`api/*.json`); a `do` fails on a `Warning` header it did not
expect (`warnings` must all be present, `allowed_warnings` may be); `catch` values match the
Java runner's status sets (`request` is any 4xx/5xx except 400, 401, 403, 404, 408 and 409) and a
regex `catch` is matched against the response's `error` object; `match` compares types strictly
(a string never equals a number; numbers compare by value only at the top level, as Java's
`Number.doubleValue()` does); the other assertions are `length`, `is_true`, `is_false`,
`gt`/`gte`/`lt`/`lte`, `contains`, `close_to` and `set` (stash). Tests whose `skip` names a
feature we do not support, or a version range containing ours, are skipped.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

SUPPORTED_FEATURES = {"headers", "warnings", "warnings_regex", "allowed_warnings",
                      "allowed_warnings_regex", "node_selector", "contains", "default_shards",
                      "stash_in_path", "stash_in_key", "arbitrary_key"}

CATCH_STATUS = {
    "bad_request": [400], "unauthorized": [401], "forbidden": [403], "missing": [404],
    "request_timeout": [408], "conflict": [409], "unavailable": [503],
}
# `catch: request`: any error status the named catches do not cover (Java's DoSection).
REQUEST_EXCLUDED = {400, 401, 403, 404, 408, 409}

# A Warning header as OpenSearch writes it: `299 OpenSearch-<version>-<hash> "<text>" "<date>"`.
WARNING_HEADER = re.compile(r'^299 \S+ "((?:[^"\\]|\\.)*)"(?: "[^"]*")?$')


class Failure(Exception):
    pass


class Skipped(Exception):
    pass


def parse_version(v: str) -> tuple:
    """Versions ordered like OpenSearch's runner: the legacy Elasticsearch versions the tests
    still name (5.x–7.x, e.g. `skip: version: " - 6.99.99"`) come before OpenSearch 1.0, so
    OpenSearch majors (1–3) are shifted past them."""
    parts = [int(p) for p in re.findall(r"\d+", v)[:3]]
    if not parts:
        return ()
    if parts[0] <= 4:
        parts[0] += 10
    return tuple(parts)


def version_in_range(ours: tuple, spec: str) -> bool:
    for rng in str(spec).split(","):
        rng = rng.strip()
        if rng == "all":
            return True
        lo, _, hi = rng.partition("-")
        lo_v = parse_version(lo) if lo.strip() else (0, 0, 0)
        hi_v = parse_version(hi) if hi.strip() else (999, 999, 999)
        if lo_v <= ours <= hi_v:
            return True
    return False


@dataclass
class ApiSpec:
    name: str
    paths: list  # [(template, methods, parts)]
    body: bool = False

    @staticmethod
    def load_all(api_dir: Path) -> dict:
        specs = {}
        for f in api_dir.glob("*.json"):
            data = json.loads(f.read_text())
            for name, spec in data.items():
                paths = [(p["path"], p["methods"], set(p.get("parts", {}).keys()))
                         for p in spec["url"]["paths"]]
                specs[name] = ApiSpec(name, paths, "body" in spec)
        return specs


@dataclass
class Result:
    name: str
    outcome: str  # passed | failed | skipped
    detail: str = ""


@dataclass
class Runner:
    base_url: str
    api_specs: dict
    our_version: tuple = (12, 11, 0)  # OpenSearch 2.11.0, shifted (see parse_version)
    stash: dict = field(default_factory=dict)

    # ---- request mapping -------------------------------------------------------------
    def has_path(self, api: str, args: dict) -> bool:
        """Whether some path of the API has all its parts among the arguments."""
        spec = self.api_specs.get(api)
        return spec is None or any(p[2] <= set(args) - {"body", "ignore"} for p in spec.paths)

    def request(self, api: str, args: dict, headers: dict | None = None):
        spec = self.api_specs.get(api)
        if spec is None:
            raise Skipped(f"api [{api}] has no spec here")
        args = dict(args)
        body = args.pop("body", None)
        ignore = args.pop("ignore", None)
        # choose the path whose parts are all given, the most specific first
        candidates = [p for p in spec.paths if p[2] <= set(args.keys())]
        if not candidates:
            raise Failure(f"no path of [{api}] fits the arguments {sorted(args)}")
        template, methods, parts = max(candidates, key=lambda p: len(p[2]))
        path = template
        for part in parts:
            value = args.pop(part)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            path = path.replace("{" + part + "}", urllib.parse.quote(str(value), safe=",*"))
        method = methods[0]
        if body is not None and method in ("GET", "HEAD", "DELETE") and "POST" in methods:
            method = "POST"
        params = {}
        for k, v in args.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, list):
                v = ",".join(str(x) for x in v)
            params[k] = str(v)
        data = None
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        if body is not None:
            if isinstance(body, list):
                lines = [x if isinstance(x, str) else json.dumps(x) for x in body]
                data = "\n".join(lines) + "\n"
                hdrs["Content-Type"] = "application/x-ndjson"
            elif isinstance(body, str):
                data = body if body.endswith("\n") or api not in ("bulk", "msearch") else body + "\n"
                if api in ("bulk", "msearch"):
                    hdrs["Content-Type"] = "application/x-ndjson"
            else:
                data = json.dumps(body)
        resp = requests.request(method, self.base_url + path, params=params,
                                data=data.encode() if isinstance(data, str) else data,
                                headers=hdrs, timeout=60)
        warnings = [h.strip() for h in resp.raw.headers.getlist("Warning")] if resp.raw else []
        if method == "HEAD":
            return resp.status_code, resp.status_code == 200, ignore, warnings
        text = resp.text
        try:
            parsed = resp.json()
        except ValueError:
            parsed = text
        return resp.status_code, parsed, ignore, warnings

    # ---- value helpers -----------------------------------------------------------------
    def resolve(self, value):
        if isinstance(value, str):
            if value.startswith("$") and value[1:] in self.stash:
                return self.stash[value[1:]]
            if "${" in value:
                return re.sub(r"\$\{(\w+)\}", lambda m: str(self.stash.get(m.group(1), m.group(0))), value)
            return value
        if isinstance(value, dict):
            return {self.resolve(k): self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def lookup(self, body, path: str):
        if path in ("$body", ""):
            return body
        path = self.resolve(path)
        keys = [k.replace("\x00", ".") for k in path.replace("\\.", "\x00").split(".")]
        cur = body
        for key in keys:
            key = self.resolve(key) if key.startswith("$") else key
            if isinstance(cur, list):
                try:
                    cur = cur[int(key)]
                except (ValueError, IndexError):
                    raise Failure(f"path [{path}]: no element [{key}]")
            elif isinstance(cur, dict) and key == "_arbitrary_key_":
                # Java's ObjectPath: the meta-key evaluates to one key of the map (not its value).
                if not cur or key in cur:
                    raise Failure(f"path [{path}]: [_arbitrary_key_] of {json.dumps(cur)[:300]}")
                cur = next(iter(cur))
            elif isinstance(cur, dict):
                if key not in cur:
                    raise Failure(f"path [{path}]: no key [{key}] in {json.dumps(cur)[:300]}")
                cur = cur[key]
            else:
                raise Failure(f"path [{path}]: cannot descend into {cur!r}")
        return cur

    @staticmethod
    def equal(expected, actual) -> bool:
        """Java's MatchAssertion: a `/regex/` string is searched (COMMENTS flag) in the actual
        value's Java `toString()`; two numbers of different types compare by value (top level
        only); anything else must be equal with the same types."""
        if isinstance(expected, str) and len(expected) > 1 and expected.strip().startswith("/") \
                and expected.strip().endswith("/"):
            pattern = expected.strip()[1:-1]
            return re.search(pattern, java_str(actual), re.X) is not None
        if is_number(expected) and is_number(actual):
            return float(expected) == float(actual)
        return strict_equal(expected, actual)

    # ---- steps ---------------------------------------------------------------------------
    def run_steps(self, steps, state):
        for step in steps or []:
            (kind, arg), = step.items()
            if kind == "skip":
                self.check_skip(arg)
            elif kind == "do":
                self.do(arg, state)
            elif kind == "set":
                for path, var in arg.items():
                    self.stash[var] = self.lookup(state["body"], path)
            elif kind == "match":
                (path, expected), = arg.items()
                actual = self.lookup(state["body"], path)
                expected = self.resolve(expected)
                if not self.equal(expected, actual):
                    raise Failure(f"match {path}: expected {expected!r}, got {actual!r}")
            elif kind == "length":
                (path, expected), = arg.items()
                actual = self.lookup(state["body"], path)
                if len(actual) != int(self.resolve(expected)):
                    raise Failure(f"length {path}: expected {expected}, got {len(actual)}")
            elif kind in ("is_true", "is_false"):
                try:
                    value = self.lookup(state["body"], arg)
                except Failure:
                    value = None
                truthy = is_truthy(value)
                if truthy != (kind == "is_true"):
                    raise Failure(f"{kind} {arg}: got {value!r}")
            elif kind in ("gt", "gte", "lt", "lte"):
                (path, expected), = arg.items()
                actual = self.lookup(state["body"], path)
                expected = self.resolve(expected)
                ok = {"gt": actual > expected, "gte": actual >= expected,
                      "lt": actual < expected, "lte": actual <= expected}[kind]
                if not ok:
                    raise Failure(f"{kind} {path}: {actual!r} vs {expected!r}")
            elif kind == "close_to":
                (path, spec), = arg.items()
                actual = self.lookup(state["body"], path)
                value, error = float(self.resolve(spec["value"])), float(self.resolve(spec["error"]))
                if not is_number(actual) or abs(float(actual) - value) > error:
                    raise Failure(f"close_to {path}: expected {value} ± {error}, got {actual!r}")
            elif kind == "contains":
                (path, expected), = arg.items()
                actual = self.lookup(state["body"], path)
                expected = self.resolve(expected)
                if not any(self.equal(expected, a) or (isinstance(expected, dict) and isinstance(a, dict)
                           and all(self.equal(v, a.get(k)) for k, v in expected.items())) for a in actual):
                    raise Failure(f"contains {path}: {expected!r} not in {actual!r}")
            else:
                raise Skipped(f"unsupported step [{kind}]")

    def check_skip(self, arg):
        features = arg.get("features", [])
        if isinstance(features, str):
            features = [features]
        missing = [f for f in features if f not in SUPPORTED_FEATURES]
        if missing:
            raise Skipped(f"features {missing}")
        if "version" in arg and version_in_range(self.our_version, arg["version"]):
            raise Skipped(f"version {arg['version']}: {arg.get('reason', '')}")

    def do(self, arg, state):
        arg = dict(arg)
        catch = arg.pop("catch", None)
        headers = arg.pop("headers", None)
        arg.pop("node_selector", None)
        expected_warnings = [" ".join(str(w).split()) for w in arg.pop("warnings", None) or []]
        allowed_warnings = [" ".join(str(w).split()) for w in arg.pop("allowed_warnings", None) or []]
        warnings_regex = arg.pop("warnings_regex", None) or []
        allowed_regex = arg.pop("allowed_warnings_regex", None) or []
        (api, args), = arg.items()
        args = self.resolve(args or {})
        if catch == "param" and not self.has_path(api, args):
            # Java's client refuses to build a request whose path parts are missing: the
            # IllegalArgumentException `catch: param` expects.
            return
        status, body, ignore, warning_headers = self.request(api, args, headers)
        state["body"] = body
        self.check_warnings(api, warning_headers, expected_warnings, allowed_warnings,
                            warnings_regex, allowed_regex)
        ignored = set(ignore if isinstance(ignore, list) else [ignore] if ignore else [])
        if catch is None:
            # Java's RestClient never fails a HEAD on 404 (any `*exists*` API); a HEAD's body
            # here is its bool.
            head_404 = status == 404 and isinstance(body, bool)
            if status >= 400 and status not in ignored and not head_404 and not (
                    api.startswith("exists") or api.endswith(".exists")):
                raise Failure(f"{api} returned {status}: {json.dumps(body)[:400]}")
            return
        if catch == "param":
            raise Skipped("client-side parameter validation")
        if catch in CATCH_STATUS:
            if status not in CATCH_STATUS[catch]:
                raise Failure(f"{api}: expected {catch}, got {status}: {json.dumps(body)[:300]}")
        elif catch == "request":
            if status < 400 or status in REQUEST_EXCLUDED:
                raise Failure(f"{api}: expected a request error (4xx/5xx other than "
                              f"{sorted(REQUEST_EXCLUDED)}), got {status}: {json.dumps(body)[:300]}")
        elif len(catch) > 2 and catch.startswith("/") and catch.endswith("/"):
            error = body.get("error") if isinstance(body, dict) else None
            if status < 400 or error is None:
                raise Failure(f"{api}: expected an error matching {catch}, got {status}: {json.dumps(body)[:300]}")
            # DoSection matches `catch` regexes without flags (unlike MatchAssertion's COMMENTS):
            # their spaces are literal (`indices.analyze/20_analyze_limit`: "The number of …").
            if not re.search(catch[1:-1], java_str(error)):
                raise Failure(f"{api}: error does not match {catch}: {java_str(error)[:300]}")
        else:
            raise Skipped(f"catch [{catch}]")

    @staticmethod
    def check_warnings(api, headers, expected, allowed, expected_regex, allowed_regex):
        """Java's DoSection.checkWarningHeaders: every header must be expected or allowed, and
        every expected warning must be present."""
        missing = list(expected)
        missing_regex = list(expected_regex)
        unexpected = []
        for header in headers:
            m = WARNING_HEADER.match(header)
            if m is None:
                raise Failure(f"{api}: malformed Warning header {header!r}")
            text = re.sub(r'\\(.)', r'\1', m.group(1))
            if text in allowed or any(re.search(r, text) for r in allowed_regex):
                continue
            if text in missing:
                missing.remove(text)
            elif any(re.search(r, text) for r in missing_regex):
                missing_regex = [r for r in missing_regex if not re.search(r, text)]
            elif not any(re.search(r, text) for r in expected_regex):
                unexpected.append(text)
        if unexpected:
            raise Failure(f"{api}: unexpected Warning headers {unexpected}")
        if missing or missing_regex:
            raise Failure(f"{api}: expected Warning headers {missing + missing_regex} not received "
                          f"(got {headers})")

    # ---- files ---------------------------------------------------------------------------
    def wipe(self):
        # Hidden indices too: the Java runner wipes with expand_wildcards=all.
        r = requests.get(self.base_url + "/_cat/indices?format=json&expand_wildcards=all", timeout=30)
        if r.status_code == 200:
            for row in r.json():
                requests.delete(self.base_url + "/" + urllib.parse.quote(row["index"]), timeout=30)

    def run_file(self, path: Path) -> list:
        docs = list(yaml.safe_load_all(path.read_text()))
        setup = teardown = None
        tests = []
        for doc in docs:
            if not doc:
                continue
            for name, steps in doc.items():
                if name == "setup":
                    setup = steps
                elif name == "teardown":
                    teardown = steps
                else:
                    tests.append((name, steps))
        results = []
        rel = f"{path.parent.name}/{path.name}"
        for name, steps in tests:
            self.stash = {}
            state = {"body": None}
            full = f"{rel} :: {name}"
            try:
                # Both skip sections decide before setup runs (Java's ClientYamlTestSuite).
                setup_skips, setup_steps = split_skip(setup)
                test_skips, test_steps = split_skip(steps)
                for skip in setup_skips + test_skips:
                    self.check_skip(skip)
                self.wipe()
                self.run_steps(setup_steps, state)
                self.run_steps(test_steps, state)
                results.append(Result(full, "passed"))
            except Skipped as s:
                results.append(Result(full, "skipped", str(s)))
            except Failure as f:
                results.append(Result(full, "failed", str(f)))
            except Exception as e:  # a crash in the runner or a connection error
                results.append(Result(full, "failed", f"{type(e).__name__}: {e}"))
            finally:
                try:
                    self.run_steps(teardown, {"body": None})
                except Exception:
                    pass
        return results


def run_all(base_url: str, tests_dir: Path) -> list:
    runner = Runner(base_url, ApiSpec.load_all(tests_dir / "api"))
    try:
        info = requests.get(base_url + "/", timeout=10).json()
        runner.our_version = parse_version(info["version"]["number"])
    except Exception:
        pass
    results = []
    for f in sorted(tests_dir.glob("*/*.yml")):
        results.extend(runner.run_file(f))
    return results


def split_skip(steps) -> tuple:
    """The leading `skip` sections of a section, and its other steps."""
    steps = list(steps or [])
    skips = []
    while steps and "skip" in steps[0]:
        skips.append(steps.pop(0)["skip"])
    return skips, steps


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def strict_equal(expected, actual) -> bool:
    """Java's `Object.equals` on parsed JSON/YAML: same type and value, recursively (an int
    never equals a float, a string never equals a number)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(strict_equal(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(strict_equal(e, a) for e, a in zip(expected, actual))
    return type(expected) is type(actual) and expected == actual


def java_str(value) -> str:
    """A parsed JSON value as Java's `toString()` prints it (what the Java runner matches regexes
    against): maps `{k=v, ...}`, lists `[a, b]`, `null`, `true`/`false`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


def is_truthy(value) -> bool:
    """OpenSearch's IsTrueAssertion/IsFalseAssertion: a value is false when it is missing or its
    Java `toString()` is "", "false" (any case) or "0"; an empty object or list is true."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.lower() not in ("", "false", "0")
    return True
