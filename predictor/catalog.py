"""MODELS: the models one function serves by name, and the URI each name loads from.

Three ways to set it: `name=URI` pairs (separated by commas or new lines); the path of a JSON or
YAML file mapping names to URIs; or `models:/*@ALIAS` with MODEL_NAMES (glob patterns), which
serves any registered model whose name matches, at that alias, resolved on its first request.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput, NotFound

# a name as routes carry it: no '/', no leading dot (no traversal), ASCII, bounded
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
NAME_RULE = "1-128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
REGISTRY_FORM = re.compile(r"^models:/\*@([A-Za-z0-9_-]+)$")
MAX_LISTED = 20  # names a 404 lists


@dataclass(frozen=True)
class Catalog:
    """Named models: fixed pairs, or a registry alias for every name the patterns match."""

    pairs: tuple[tuple[str, str], ...] = ()
    registry_alias: str | None = None
    patterns: tuple[str, ...] = ()

    def uri(self, name: str) -> str | None:
        """Where `name` loads from, or None when it is not served."""
        for known, uri in self.pairs:
            if known == name:
                return uri
        if self.registry_alias and any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
            return f"models:/{name}@{self.registry_alias}"
        return None

    def described(self) -> str:
        """The names served, as a caller should read them (at most MAX_LISTED)."""
        names = [name for name, _ in self.pairs]
        if self.registry_alias:
            return f"registered models matching {', '.join(self.patterns)} (at @{self.registry_alias})"
        shown = ", ".join(names[:MAX_LISTED])
        return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")

    def check(self, name: str) -> str:
        """The URI for `name`; a malformed name is a 400, an unknown one a 404 naming those served."""
        if not NAME.match(name):
            raise InvalidInput(f"'{name[:64]}' is not a model name ({NAME_RULE})", {"rule": NAME_RULE})
        uri = self.uri(name)
        if uri is None:
            raise NotFound(
                f"no model named '{name}'; this function serves {self.described()}",
                {"models": [n for n, _ in self.pairs][:MAX_LISTED], "patterns": list(self.patterns)},
            )
        return uri


def parse(
    value: str, patterns: str, check_uri: Callable[[str], str], fail: Callable[[str, str], Exception]
) -> Catalog:
    """MODELS (and MODEL_NAMES) read; `check_uri` validates each URI, `fail(variable, why)` makes
    the error to raise."""
    value = value.strip()
    registry = REGISTRY_FORM.match(value)
    if registry:
        globs = tuple(p.strip() for p in re.split(r"[,\s]+", patterns) if p.strip())
        if not globs:
            raise fail("MODEL_NAMES", f"is not set: MODELS={value} serves the registered models it matches")
        return Catalog(registry_alias=registry.group(1), patterns=globs)
    if value.startswith("models:/*"):
        raise fail("MODELS", f"'{value}' must be models:/*@ALIAS (one alias for every name)")
    if patterns.strip():
        raise fail("MODEL_NAMES", "only applies with MODELS=models:/*@ALIAS")
    in_file = value.endswith((".json", ".yaml", ".yml"))
    mapping = _from_file(value, fail) if in_file else _from_pairs(value, fail)
    bad = [name for name in mapping if not NAME.match(name)]
    if bad:
        raise fail("MODELS", f"has {bad[0]!r}, which is not a model name ({NAME_RULE})")
    if not mapping:
        raise fail("MODELS", "is set but names no model (name=URI pairs expected)")
    return Catalog(pairs=tuple((name, check_uri(uri)) for name, uri in mapping.items()))


def _from_pairs(value: str, fail) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in re.split(r"[,\n]", value)):
        if not entry:
            continue
        name, sep, uri = entry.partition("=")
        if not sep or not name.strip() or not uri.strip():
            raise fail("MODELS", f"has '{entry}': each entry is name=URI (or name a JSON or YAML file)")
        if name.strip() in mapping:
            raise fail("MODELS", f"names '{name.strip()}' twice")
        mapping[name.strip()] = uri.strip()
    return mapping


def _from_file(path: str, fail) -> dict[str, str]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise fail("MODELS", f"names the file '{path}', which cannot be read: {exc.strerror}") from None
    try:
        if path.endswith(".json"):
            loaded = json.loads(text)
        else:
            import yaml

            loaded = yaml.safe_load(text)
    except ValueError as exc:  # yaml.YAMLError is not one: caught below
        raise fail("MODELS", f"'{path}' is not valid JSON: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - yaml's own errors
        raise fail("MODELS", f"'{path}' is not valid YAML: {exc}") from None
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
    ):
        raise fail("MODELS", f"'{path}' must map model names to URIs (name: URI)")
    return dict(loaded)
