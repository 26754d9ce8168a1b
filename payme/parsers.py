"""The JSON parser every API view uses, and the shape check the callback view shares.

Python's json module recurses once per nesting level: 6 KB of ``[[[…]]]`` raised RecursionError
(a 500) in the API and a 503 in the callback view (issue #13). No body of ours nests more than
four levels, so anything deeper than ``MAX_JSON_DEPTH`` is refused as malformed before a
serializer, the idempotency hash or an error renderer has to walk it.
"""

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


class JsonTooDeep(ParseError):
    default_detail = f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep."


def json_depth_exceeds(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``value`` (parsed JSON) nests lists or objects deeper than ``limit``.
    Iterative: it must not recurse on the input it is guarding against."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads_bounded(text):
    """``json.loads`` that raises ValueError (never RecursionError) for bodies nested too deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if json_depth_exceeds(value):
        raise ValueError("nested too deeply")
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``MAX_JSON_DEPTH`` as malformed JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise JsonTooDeep() from None
        if json_depth_exceeds(data):
            raise JsonTooDeep()
        return data
