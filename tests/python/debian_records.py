"""Real records for client tests: the Debian package index of the machine running the tests.

`/var/lib/dpkg/status` (installed packages) and `apt-cache dumpavail` (every package apt knows)
are deb822 files; each stanza becomes one flat document with keyword, integer and text fields.
The tests compute their expected values from these same records, never from the server.
"""
import subprocess
from pathlib import Path

import regex


def standard_words(text: str) -> set[str]:
    """The lowercased words of the standard analyzer: UAX #29 word segments (the `regex`
    module's Unicode word boundaries) that contain a letter or digit."""
    return {seg.lower() for seg in regex.split(r"(?V1w)\b", text) if any(c.isalnum() for c in seg)}


def deb822_stanzas(text: str):
    """Each stanza of a deb822 file as {field: value}; continuation lines join the value."""
    for stanza in text.split("\n\n"):
        fields, last = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and last is not None:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                last, value = line.split(":", 1)
                fields[last] = value.strip()
        if fields.get("Package"):
            yield fields


def package_record(fields: dict) -> dict:
    description = fields.get("Description", "")
    summary = description.split("\n", 1)[0]
    size = fields.get("Installed-Size", "")
    return {
        "package": fields["Package"],
        "version": fields.get("Version", ""),
        "section": fields.get("Section", "unknown"),
        "priority": fields.get("Priority", "unknown"),
        "architecture": fields.get("Architecture", "unknown"),
        "installed_size": int(size) if size.isdigit() else 0,
        "maintainer": fields.get("Maintainer", ""),
        "summary": summary,
    }


def load_packages(limit: int = 5000) -> list[dict]:
    """Up to `limit` distinct packages (first occurrence of each name wins), in a stable order."""
    texts = []
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        texts.append(status.read_text(errors="replace"))
    try:
        texts.append(subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                                    timeout=120).stdout)
    except (OSError, subprocess.SubprocessError):
        pass
    records = {}
    for text in texts:
        for fields in deb822_stanzas(text):
            records.setdefault(fields["Package"], package_record(fields))
    return [records[name] for name in sorted(records)][:limit]


MAPPING = {
    "properties": {
        "package": {"type": "keyword"},
        "version": {"type": "keyword"},
        "section": {"type": "keyword"},
        "priority": {"type": "keyword"},
        "architecture": {"type": "keyword"},
        "installed_size": {"type": "long"},
        "maintainer": {"type": "keyword"},
        "summary": {"type": "text"},
    }
}
