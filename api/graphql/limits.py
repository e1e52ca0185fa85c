"""Request limits checked before anything runs: selection depth and number of fields (Parse's
`requestComplexity.graphQLDepth`/`graphQLFields`), and introspection, which Parse allows only to the master key."""
from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


class Complexity:
    """Depth and field count of an operation, fragments expanded where they are spread."""

    def __init__(self, document: DocumentNode, stop_after: int = 100_000) -> None:
        self._stop_after = stop_after  # fragments spread in fragments grow exponentially: stop counting early
        self._fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.depth = 0
        self.fields = 0
        self.introspects = False
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                self._walk(definition.selection_set, 0, frozenset())

    def _walk(self, selection_set: SelectionSetNode | None, depth: int, spread: frozenset[str]) -> None:
        if selection_set is None or self.fields > self._stop_after:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.fields += 1
                self.depth = max(self.depth, depth + 1)
                if selection.name.value in ("__schema", "__type"):
                    self.introspects = True
                self._walk(selection.selection_set, depth + 1, spread)
            elif isinstance(selection, InlineFragmentNode):
                self._walk(selection.selection_set, depth, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is not None and name not in spread:  # a cycle is validation's to report
                    self._walk(fragment.selection_set, depth, spread | {name})


def limit_error(complexity: Complexity, max_depth: int, max_fields: int) -> str | None:
    """Why the request exceeds a limit (a limit below 0 is none), or None."""
    if max_depth >= 0 and complexity.depth > max_depth:
        return f"Query depth exceeds maximum allowed depth of {max_depth}"
    if max_fields >= 0 and complexity.fields > max_fields:
        return f"Number of fields selected exceeds maximum allowed number of fields of {max_fields}"
    return None
