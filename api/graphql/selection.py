"""What a query selected below a field (fragments and inline fragments included)."""
from __future__ import annotations

from graphql import FieldNode, FragmentSpreadNode, GraphQLResolveInfo, InlineFragmentNode, SelectionSetNode


def selected_names(info: GraphQLResolveInfo) -> set[str]:
    """The field names selected directly below the field being resolved."""
    names: set[str] = set()
    for node in info.field_nodes:
        _collect(node.selection_set, info, names)
    return names


def selected_below(info: GraphQLResolveInfo, path: tuple[str, ...]) -> set[str]:
    """The field names selected at `path` below the field being resolved (e.g. `("edges", "node")`)."""
    nodes = list(info.field_nodes)
    for name in path:
        found: list[FieldNode] = []
        for node in nodes:
            _fields_named(node.selection_set, name, info, found)
        nodes = found
    names: set[str] = set()
    for node in nodes:
        _collect(node.selection_set, info, names)
    return names


def _fields_named(selection_set: SelectionSetNode | None, name: str, info: GraphQLResolveInfo,
                  found: list[FieldNode]) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == name:
                found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            _fields_named(selection.selection_set, name, info, found)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = info.fragments.get(selection.name.value)
            if fragment is not None:
                _fields_named(fragment.selection_set, name, info, found)


def _collect(selection_set: SelectionSetNode | None, info: GraphQLResolveInfo, names: set[str]) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, info, names)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = info.fragments.get(selection.name.value)
            if fragment is not None:
                _collect(fragment.selection_set, info, names)
