"""What a face shows of a stored conversation: one branch, each answer's sources, versions.

Edits and regenerations make sibling messages (same parent, same role). The window and
``enclave history show`` both draw a :class:`ConversationView`: the branch on screen, and for
each message its :class:`Versions` (``‹ 2/3 ›``) and, for answers, the sources it cited. The
faces never walk ``parent_id`` links themselves. Answers stored before source markers were
taken out as they streamed are shown without them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.core.errors import EnclaveError
from app.core.source_markers import strip_source_markers


@dataclass(frozen=True)
class Versions:
    """The versions of one message: itself and its siblings (edits or regenerations).

    Attributes:
        ids: Every version's message id, oldest first.
        index: This message's place in ``ids``, from 1 (as shown: ``‹ index/count ›``).
    """

    ids: tuple[int, ...]
    index: int

    @property
    def count(self) -> int:
        """How many versions there are (1: never edited or regenerated)."""
        return len(self.ids)

    @property
    def previous(self) -> int | None:
        """The version before this one, or ``None`` at the first."""
        return self.ids[self.index - 2] if self.index > 1 else None

    @property
    def next(self) -> int | None:
        """The version after this one, or ``None`` at the last."""
        return self.ids[self.index] if self.index < len(self.ids) else None

    def label(self) -> str:
        """``‹ 2/3 ›``, or ``""`` for a message with a single version."""
        return f"‹ {self.index}/{self.count} ›" if self.count > 1 else ""


@dataclass(frozen=True)
class ViewMessage:
    """One message of the branch on screen, with its versions and (answers) its sources."""

    message: Any  # app.core.store.Message (an answer's text without copied source markers)
    versions: Versions
    sources: tuple[Any, ...] = ()  # app.core.store.StoredSource, in [n] order
    markers_removed: int = 0  # copied source markers taken out of the stored text


@dataclass(frozen=True)
class ConversationView:
    """The branch of a conversation a face shows, and the collections it answers from."""

    conversation_id: int
    messages: tuple[ViewMessage, ...]
    scope: tuple[str, ...] = ()

    def index_of(self, message_id: int) -> int | None:
        """Where ``message_id`` sits on the branch, or ``None``."""
        for i, shown in enumerate(self.messages):
            if shown.message.id == message_id:
                return i
        return None


class Tree:
    """A conversation's messages as a tree (parent links), built once per read."""

    def __init__(self, stored: Sequence[Any]) -> None:
        self.stored = list(stored)
        self.by_id = {m.id: m for m in self.stored}
        self._siblings: dict[tuple[int | None, str], list[int]] = {}
        self._children: dict[int, list[int]] = {}
        for m in self.stored:  # stored oldest first, so each list is oldest first too
            parent = m.parent_id if m.parent_id in self.by_id else None
            self._siblings.setdefault((parent, m.role), []).append(m.id)
            if parent is not None:
                self._children.setdefault(parent, []).append(m.id)

    def versions(self, message_id: int) -> Versions:
        """The versions of ``message_id`` (itself and its siblings)."""
        m = self.by_id[message_id]
        parent = m.parent_id if m.parent_id in self.by_id else None
        ids = tuple(self._siblings.get((parent, m.role), [message_id]))
        return Versions(ids, ids.index(message_id) + 1)

    def chain(self, leaf_id: int) -> list[Any]:
        """The messages from the root down to ``leaf_id``, oldest first."""
        chain = []
        seen: set[int] = set()
        node = self.by_id.get(leaf_id)
        while node is not None and node.id not in seen:  # a damaged parent link cannot loop
            seen.add(node.id)
            chain.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        return chain[::-1]

    def newest_leaf_below(self, message_id: int) -> int:
        """Follow the newest child from ``message_id`` down to a leaf."""
        leaf = message_id
        seen = {leaf}
        while self._children.get(leaf):
            leaf = self._children[leaf][-1]
            if leaf in seen:
                break
            seen.add(leaf)
        return leaf

    def below(self, message_id: int) -> int:
        """How many messages hang below ``message_id`` (all its branches)."""
        count, todo, seen = 0, list(self._children.get(message_id, [])), set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            count += 1
            todo.extend(self._children.get(node, []))
        return count

    def branch_through(self, message_id: int | None) -> list[Any]:
        """The newest branch, or the newest one through ``message_id``."""
        if not self.stored:
            return []
        newest = self.chain(self.stored[-1].id)
        if message_id is None or any(m.id == message_id for m in newest):
            return newest
        return self.chain(self.newest_leaf_below(message_id))


def _tree(history: Any, conversation_id: int, message_id: int | None) -> Tree:
    tree = Tree(history.messages(conversation_id))
    if message_id is not None and message_id not in tree.by_id:
        raise EnclaveError(f"Message {message_id} is not in conversation {conversation_id}.",
                           "List its messages with: enclave history show "
                           f"{conversation_id}")
    return tree


def branch_through(history: Any, conversation_id: int,
                   message_id: int | None = None) -> list[Any]:
    """The branch to show, oldest first: the newest one, or the newest through ``message_id``.

    A search hit or a chosen version may sit on an older branch: then the branch runs from the
    root through it down to the newest leaf below it.

    Raises:
        EnclaveError: ``message_id`` is not a message of the conversation.
    """
    return _tree(history, conversation_id, message_id).branch_through(message_id)


def view_conversation(history: Any, conversation_id: int,
                      through: int | None = None) -> ConversationView:
    """The conversation as a face shows it: the branch through ``through`` (default: newest).

    Raises:
        ConversationNotFound: there is no such conversation.
        EnclaveError: ``through`` is not a message of the conversation.
    """
    history.conversation(conversation_id)  # a missing conversation is an error, not empty
    tree = _tree(history, conversation_id, through)
    branch = tree.branch_through(through)
    sources = history.sources_for(m.id for m in branch if m.role == "assistant")
    shown = tuple(_shown(m, tree.versions(m.id), tuple(sources.get(m.id, ()))) for m in branch)
    return ConversationView(conversation_id, shown, tuple(history.scope(conversation_id)))


def _shown(message: Any, versions: Versions, sources: tuple[Any, ...]) -> ViewMessage:
    if message.role != "assistant":
        return ViewMessage(message, versions, sources)
    text, removed = strip_source_markers(message.text)
    if removed:
        message = replace(message, text=text)
    return ViewMessage(message, versions, sources, removed)


def later_turns_kept(history: Any, conversation_id: int, answer_id: int) -> int:
    """After ``answer_id`` was answered again: how many messages stay below its older version.

    The regenerated answer starts a new branch; the turns that followed the earlier version
    stay on that version's branch (reachable with the version arrows).
    """
    tree = Tree(history.messages(conversation_id))
    if answer_id not in tree.by_id:
        return 0
    versions = tree.versions(answer_id)
    return sum(tree.below(i) for i in versions.ids if i != answer_id)


def kept_note(history: Any, conversation_id: int, answer_id: int) -> str:
    """What to tell a user who answered again where later turns followed the earlier answer.

    ``""`` when nothing followed it; else which earlier version (``‹ i/n ›``) keeps them.
    """
    kept = later_turns_kept(history, conversation_id, answer_id)
    if not kept:
        return ""
    tree = Tree(history.messages(conversation_id))
    versions = tree.versions(answer_id)
    holding = [i for i, v in enumerate(versions.ids, start=1)
               if v != answer_id and tree.below(v)]
    if len(holding) > 1:
        where = f"versions {', '.join(map(str, holding))} of {versions.count}"
        return f"The {kept} later messages stay with the earlier answers ({where})."
    where = f"version {holding[0]}/{versions.count}"
    if kept == 1:
        return f"The later message stays with the earlier answer ({where})."
    return f"The {kept} later messages stay with the earlier answer ({where})."
