"""The operations file (``operations.graphql``): every query, mutation and subscription and the
fragments they share, loaded once and split into standalone documents.

A document is one operation plus the fragments it spreads (directly or through another
fragment), keyed by the operation's root field (``sendMessage``) and by its name
(``SendMessage``). :func:`document` also passes any other GraphQL text through, so callers can
send their own selections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from graphql.language import FragmentSpreadNode, Node, Visitor, visit

__all__ = ["MESSAGE_FIELDS", "OPERATIONS_FILE", "document", "documents", "fragment_fields"]

OPERATIONS_FILE = "operations.graphql"


def operations_text() -> str:
    return resources.files(__package__).joinpath(OPERATIONS_FILE).read_text(encoding="utf-8")


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spreads(node: Node) -> set[str]:
    visitor = _Spreads()
    visit(node, visitor)
    return visitor.names


def _source(text: str, node: Node) -> str:
    assert node.loc is not None
    return text[node.loc.start:node.loc.end]


@cache
def _load() -> tuple[Mapping[str, str], Mapping[str, str]]:
    text = operations_text()
    ast = parse(text)
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    docs: dict[str, str] = {}
    bodies: dict[str, str] = {}
    for name, fragment in fragments.items():
        inner = _source(text, fragment.selection_set)[1:-1]
        bodies[name] = " ".join(inner.split())
    for definition in ast.definitions:
        if not isinstance(definition, OperationDefinitionNode) or definition.name is None:
            continue
        needed: list[str] = []
        todo = sorted(_spreads(definition))
        while todo:
            name = todo.pop(0)
            if name in needed:
                continue
            needed.append(name)
            todo += sorted(_spreads(fragments[name]) - set(needed))
        parts = [_source(text, definition)] + [_source(text, fragments[n]) for n in needed]
        body = "\n".join(parts)
        field = definition.selection_set.selections[0]
        docs[definition.name.value] = body
        docs[getattr(field, "name").value] = body  # noqa: B009 - a FieldNode
    return MappingProxyType(docs), MappingProxyType(bodies)


def documents() -> Mapping[str, str]:
    """{root field or operation name: the operation with its fragments}."""
    return _load()[0]


def fragment_fields(name: str) -> str:
    """A fragment's selection as one line (``MessageFields`` -> ``id conversationId ...``), with
    any fragments it spreads inlined."""
    bodies = _load()[1]
    return re.sub(r"\.\.\.(\w+)", lambda m: bodies[m.group(1)], bodies[name])


def document(name_or_text: str) -> str:
    """The named operation's document, or ``name_or_text`` itself when it is GraphQL text."""
    found = documents().get(name_or_text)
    if found is not None:
        return found
    if re.fullmatch(r"\w+", name_or_text):
        raise KeyError(f"no operation {name_or_text!r} in {OPERATIONS_FILE}")
    return name_or_text


#: The Message fragment's fields, for selections written by hand.
MESSAGE_FIELDS = fragment_fields("MessageFields")
