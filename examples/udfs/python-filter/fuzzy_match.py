# @udf: name=fuzzy_match
# @udf: version=1.0.0
# @udf: author=Quidditch examples
# @udf: category=text
# @udf: tags=text, fuzzy, levenshtein
"""Keeps documents whose field is within `threshold` edits of `query`.

The distance is the Levenshtein distance (insert, delete or substitute one character),
compared case-insensitively. A document without the field, or with a non-text value, is
dropped.
"""


def levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance between `a` and `b`, or `limit + 1` as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def filter(doc, query: str, threshold: int = 2, field: str = "title") -> bool:
    value = doc.get(field)
    if not isinstance(value, str):
        return False
    return levenshtein(value.lower(), query.lower(), threshold) <= threshold
