"""Checks an HTTP response against the OpenAPI 3.1 document of the service
that answered (proto/<service>.openapi.json).

The harness's `http` helper calls `check_response` (through contracts.py) for every response of a
service it started, so each integration and end-to-end test also tests the
contract: a status, content type or body the document does not describe
fails the test with a message naming the operation and what differs.

Matching follows the services' router (common/http_parse.c) and the document's
stated conventions (info.description):
- a trailing slash is ignored (the Python clients call "/{id}/");
- literal path templates win over templated ones; among the templates
  matching the path, the first (most literal) that defines the method is the
  operation; HEAD is GET without a body;
- a path that matches with no such method must answer 405 (documented on
  every operation);
- a path no template matches must answer 404 with a Problem body.

OpenAPI 3.1 schemas are JSON Schema 2020-12: each document is registered as
one resource with the `referencing` library, and a response schema is
validated through a `$ref` to its JSON pointer, so `#/components/...` refs
inside it resolve against the same document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.paths import PROTO

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _decimal_multiple_of(validator: Any, d: Any, instance: Any, schema: Any):
    """multipleOf in decimal, as the document means it: money is
    `multipleOf: 0.01`, and in binary floating point 0.07 / 0.01 is not whole,
    so jsonschema's own check rejects valid prices."""
    if not validator.is_type(instance, "number"):
        return
    if Decimal(repr(instance)) % Decimal(repr(d)) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {d}")


Validator = extend(Draft202012Validator, {"multipleOf": _decimal_multiple_of})


class ContractError(AssertionError):
    """A response the OpenAPI document does not describe."""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class _Template:
    path: str
    regex: re.Pattern[str]
    literal_segments: int  # more literal segments = more specific


class OpenAPIDoc:
    """One service's OpenAPI document, ready to check responses against."""

    def __init__(self, doc: Mapping[str, Any], name: str):
        self.doc = doc
        self.name = name
        self.uri = f"urn:clinic-events:openapi:{name}"
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(self.uri, resource)
        self._validators: dict[str, Any] = {}
        self.templates = []
        for path in doc.get("paths", {}):
            parts = path.strip("/").split("/") if path != "/" else []
            rx = "".join("/[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else "/" + re.escape(p)
                         for p in parts) or "/"
            literal = sum(1 for p in parts if not p.startswith("{"))
            self.templates.append(_Template(path, re.compile(rx + r"\Z"), literal))
        # Most literal first, then the document's order (stable sort).
        self.templates.sort(key=lambda t: -t.literal_segments)

    @classmethod
    @lru_cache(maxsize=None)
    def for_service(cls, name: str) -> "OpenAPIDoc":
        path = PROTO / f"{name}.openapi.json"
        return cls(json.loads(path.read_text(encoding="utf-8")), name)

    # ------------------------------------------------------------ lookups

    def _deref(self, obj: Any, pointer: str) -> tuple[Any, str]:
        """Follow local `$ref`s of non-schema objects (responses, headers);
        returns the object and its JSON pointer in the document."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise ContractError(f"{self.name}: unsupported $ref {ref!r} at {pointer}")
            pointer = ref[1:]
            obj = self.doc
            for tok in pointer.split("/")[1:]:
                obj = obj[tok.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 20:
                raise ContractError(f"{self.name}: $ref loop at {pointer}")
        return obj, pointer

    def validator(self, pointer: str) -> Any:
        v = self._validators.get(pointer)
        if v is None:
            v = Validator({"$ref": f"{self.uri}#{pointer}"}, registry=self.registry,
                                     format_checker=FormatChecker())
            self._validators[pointer] = v
        return v

    def match(self, method: str, path: str) -> tuple[str | None, str | None]:
        """(path template, method the operation is documented under), or
        (template, None) when the path exists without this method, or
        (None, None) when no template matches."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        m = method.lower()
        doc_method = "get" if m == "head" else m
        matching = [t for t in self.templates if t.regex.match(path)]
        for t in matching:
            item = self.doc["paths"][t.path]
            if doc_method in item:
                return t.path, doc_method
        return (matching[0].path, None) if matching else (None, None)

    # ------------------------------------------------------------ the check

    def check(self, method: str, path: str, status: int, headers: Mapping[str, str],
              body: Any, raw: bytes) -> None:
        """Raise ContractError unless the document describes this response.

        headers: lower-case names; body: parsed JSON for JSON media types.
        """
        where = f"{self.name}: {method.upper()} {path} -> {status}"
        template, op_method = self.match(method, path.split("?", 1)[0])
        ctype = headers.get("content-type", "")
        if template is None:
            if status != 404:
                raise ContractError(f"{where}: no path of {self.name}.openapi.json matches "
                                    f"{path!r}, so only 404 is expected")
            self._check_problem(where, ctype, body, status)
            return
        item = self.doc["paths"][template]
        if op_method is None:
            if status != 405:
                documented = sorted(k.upper() for k in item if k in HTTP_METHODS)
                raise ContractError(f"{where}: {template} documents only {documented}, so "
                                    f"{method.upper()} must be 405")
            responses = [op["responses"].get("405") for k, op in item.items() if k in HTTP_METHODS]
            response = next((r for r in responses if r is not None), None)
            if response is None:
                raise ContractError(f"{where}: no operation of {template} documents 405")
            ops_key = next(k for k, op in item.items()
                           if k in HTTP_METHODS and "405" in op["responses"])
            self._check_response(where, f"/paths/{_escape(template)}/{ops_key}/responses/405",
                                 response, method, ctype, headers, body, raw)
            allow = headers.get("allow", "")
            got = {a.strip() for a in allow.split(",") if a.strip()}
            want = {k.upper() for k in item if k in HTTP_METHODS}
            if got != want:
                raise ContractError(f"{where}: Allow is {allow!r}; {template} documents {sorted(want)}")
            return
        op = item[op_method]
        op_name = op.get("operationId", f"{op_method.upper()} {template}")
        where = f"{where} ({op_name}, {template})"
        responses = op.get("responses", {})
        key = str(status) if str(status) in responses else (
            f"{status // 100}XX" if f"{status // 100}XX" in responses else "default")
        if key not in responses:
            raise ContractError(f"{where}: status {status} is not documented "
                                f"(documented: {', '.join(responses)}); body: {_short(raw)}")
        pointer = f"/paths/{_escape(template)}/{op_method}/responses/{_escape(key)}"
        self._check_response(where, pointer, responses[key], method, ctype, headers, body, raw)

    def _check_response(self, where: str, pointer: str, response: Any, method: str, ctype: str,
                        headers: Mapping[str, str], body: Any, raw: bytes) -> None:
        response, pointer = self._deref(response, pointer)
        content = response.get("content") or {}
        for name, hobj in (response.get("headers") or {}).items():
            hobj, hptr = self._deref(hobj, f"{pointer}/headers/{_escape(name)}")
            value = headers.get(name.lower())
            if value is None:
                if hobj.get("required"):
                    raise ContractError(f"{where}: required header {name} is missing")
                continue
            if "schema" in hobj:
                self._validate(where, f"header {name}", f"{hptr}/schema",
                               _header_value(value, hobj["schema"]))
        if not content:
            if raw:
                raise ContractError(f"{where}: the document describes no body, got "
                                    f"{ctype or 'no content type'}: {_short(raw)}")
            return
        media = _media_match(ctype, content)
        if media is None:
            raise ContractError(f"{where}: content type {ctype!r} is not documented "
                                f"(documented: {', '.join(content)})")
        if method.upper() == "HEAD":
            return
        schema = content[media].get("schema")
        if schema is None:
            return
        base = ctype.split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            try:
                value = json.loads(raw)
            except ValueError as e:
                raise ContractError(f"{where}: {base} body is not JSON ({e}): {_short(raw)}") from None
        elif base.startswith("text/") or base in ("application/javascript",):
            value = raw.decode("utf-8", errors="replace")
        else:
            return  # binary (image/png): the document only says it is a string of that type
        self._validate(where, "body", f"{pointer}/content/{_escape(media)}/schema", value)

    def _check_problem(self, where: str, ctype: str, body: Any, status: int) -> None:
        if ctype.split(";")[0].strip().lower() != "application/problem+json":
            raise ContractError(f"{where}: expected application/problem+json, got {ctype!r}")
        self._validate(where, "body", "/components/schemas/Problem", body)
        if not isinstance(body, dict) or body.get("status") != status:
            raise ContractError(f"{where}: problem status {body.get('status')} != {status}")

    def _validate(self, where: str, what: str, pointer: str, value: Any) -> None:
        errors = sorted(self.validator(pointer).iter_errors(value), key=lambda e: list(e.path))
        if errors:
            lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                     for e in errors[:5]]
            raise ContractError(f"{where}: {what} does not match the schema at #{pointer}:\n"
                                + "\n".join(lines) + f"\n  {what}: {_short(json.dumps(value))}")


def _media_match(ctype: str, content: Mapping[str, Any]) -> str | None:
    """The documented media type this Content-Type is: same type/subtype, and
    every parameter the document names with the same value."""
    got_base, got_params = _parse_media(ctype)
    for media in content:
        base, params = _parse_media(media)
        if base == got_base and all(got_params.get(k) == v for k, v in params.items()):
            return media
    return None


def _parse_media(value: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k:
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def _header_value(value: str, schema: Mapping[str, Any]) -> Any:
    if schema.get("type") == "integer" and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return value


def _short(raw: bytes | str, limit: int = 300) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= limit else text[:limit] + "…"


def check_response(service: str, method: str, path: str, status: int,
                   headers: Mapping[str, str], body: Any, raw: bytes) -> None:
    """Raise ContractError unless proto/<service>.openapi.json describes the response."""
    OpenAPIDoc.for_service(service).check(method, path, status, headers, body, raw)
