"""The prompt library: names and texts cleaned once, the organization's prompts locked, the
user's own kept in the encrypted history (and carried by migration and recovery)."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import main
from app.core.engines.base import ChatMessage
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy, load_policy
from app.core.prompts import (
    MAX_BODY_CHARS,
    MAX_NAME_CHARS,
    InvalidPrompt,
    ManagedPromptLocked,
    PromptLibrary,
    PromptNotFound,
    clean_body,
    clean_kind,
    clean_name,
    system_prompt_sha256,
    with_system_prompt,
)
from app.core.store import ConversationNotFound, HistoryStore, open_history
from app.core.store.database import PAGE_SIZE, connect, probe
from app.core.store.keys import derive_key, read_key_file
from app.core.store.prompts import StoredPromptExists
from app.core.store.recover import recover_history
from app.core.store.schema import SCHEMA_VERSION
from tests.policies import policy_root

PASSPHRASE = "correct horse battery staple"
MANAGED = {"prompts": {
    "managed": [
        {"name": "Incident summary", "body": "Summarise the incident in five bullet points."},
        {"name": "House style", "body": "Answer in plain British English.", "kind": "system"},
    ],
    "system": "You work for Example Ltd. Never reveal customer names.",
}}


@pytest.fixture
def paths(passphrase_paths: AppPaths) -> AppPaths:
    """No keyring: the passphrase path runs, as the store tests do."""
    return passphrase_paths


@pytest.fixture
def store(paths: AppPaths) -> Iterator[HistoryStore]:
    with open_history(paths, passphrase=PASSPHRASE) as s:
        yield s


@pytest.fixture
def policy(tmp_path: Path) -> EffectivePolicy:
    return load_policy(policy_root(tmp_path, MANAGED))


# -- validation -----------------------------------------------------------------------------

NAMES = [
    ("Summarise", "Summarise"),
    ("  Summarise  ", "Summarise"),
    ("ＳＵＭＭＡＲＹ", "SUMMARY"),  # fullwidth letters: NFKC
    ("Sum\u200bmary", "Summary"),  # zero-width space
    ("Bid\u202eirectional", "Bidirectional"),  # bidi override
    ("two\tlines\nhere", "two lines here"),  # controls become one space
    ("many     spaces", "many spaces"),
    ("Cafe\u0301", "Café"),  # composed
    ("Caf\u200de\u0301", "Café"),  # a joiner between letter and accent does not stop it
    ("x" * MAX_NAME_CHARS, "x" * MAX_NAME_CHARS),
    ("Ticket 42", "Ticket 42"),
]
BAD_NAMES = ["", "   ", "\u200b\u200d\ufeff", "\x00\x07", "1234", "１２",
             "x" * (MAX_NAME_CHARS + 1)]
BODIES = [
    ("Summarise this.", "Summarise this."),
    ("line one\r\nline two\rline three", "line one\nline two\nline three"),
    ("\tindented\n\tlist", "indented\n\tlist"),  # tabs and newlines kept inside
    ("beep\x07 and \x1b[31mred", "beep and [31mred"),
    ("ﬁle", "file"),  # ligature: NFKC
    ("a\u00adb\u2060c", "abc"),  # soft hyphen, word joiner
    ("\n\n  padded  \n\n", "padded"),
    ("x" * MAX_BODY_CHARS, "x" * MAX_BODY_CHARS),
]
BAD_BODIES = ["", " \n\t ", "\u200b\u200b", "\x01\x02", "x" * (MAX_BODY_CHARS + 1)]


class TestNames:
    @pytest.mark.parametrize(("given", "stored"), NAMES)
    def test_a_name_is_stored_normalised(self, given: str, stored: str) -> None:
        assert clean_name(given) == stored

    @pytest.mark.parametrize("bad", BAD_NAMES)
    def test_a_name_that_cannot_be_used_is_refused_with_the_reason(self, bad: str) -> None:
        with pytest.raises(InvalidPrompt) as caught:
            clean_name(bad)
        assert "cannot be used" in caught.value.message
        assert str(MAX_NAME_CHARS) in caught.value.hint

    @given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=120))
    def test_any_text_is_a_clean_name_or_refused(self, text: str) -> None:
        try:
            name = clean_name(text)
        except InvalidPrompt:
            return
        assert 1 <= len(name) <= MAX_NAME_CHARS
        assert unicodedata.is_normalized("NFKC", name)
        assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
        assert "\u200b" not in name and name == name.strip()
        assert clean_name(name) == name  # stable: saving it again changes nothing


class TestBodies:
    @pytest.mark.parametrize(("given", "stored"), BODIES)
    def test_a_text_is_stored_normalised(self, given: str, stored: str) -> None:
        assert clean_body(given) == stored

    @pytest.mark.parametrize("bad", BAD_BODIES)
    def test_a_text_that_cannot_be_used_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidPrompt, match="text cannot be used"):
            clean_body(bad)

    @given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
    def test_any_text_is_clean_or_refused(self, text: str) -> None:
        try:
            body = clean_body(text)
        except InvalidPrompt:
            return
        assert unicodedata.is_normalized("NFKC", body)
        assert not [c for c in body if unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t"]
        assert clean_body(body) == body


class TestKinds:
    @pytest.mark.parametrize(("given", "kind"), [("prompt", "prompt"), (" System ", "system"),
                                                 ("ＳＹＳＴＥＭ", "system")])
    def test_kinds(self, given: str, kind: str) -> None:
        assert clean_kind(given) == kind

    @pytest.mark.parametrize("bad", ["", "developer", "systems", "user"])
    def test_other_kinds_are_refused(self, bad: str) -> None:
        with pytest.raises(InvalidPrompt, match="not a kind of prompt"):
            clean_kind(bad)


# -- the library ----------------------------------------------------------------------------


def test_the_organizations_prompts_come_first_and_are_locked(
    store: HistoryStore, policy: EffectivePolicy
) -> None:
    library = PromptLibrary(store, policy)
    library.add("  My\u200b notes ", "Turn these notes into a memo.")
    library.add("Pirate", "Talk like a pirate.", "system")
    listed = library.prompts()
    assert [(p.name, p.managed) for p in listed] == [
        ("Incident summary", True), ("House style", True), ("My notes", False),
        ("Pirate", False)]
    assert [p.name for p in library.prompts(kind="system")] == ["House style", "Pirate"]
    assert [p.name for p in library.prompts("MEMO")] == ["My notes"]  # searches the text too
    for ref, verb in (("incident summary", "edited"), ("HOUSE STYLE", "edited")):
        with pytest.raises(ManagedPromptLocked, match=f"cannot be {verb}"):
            library.edit(ref, body="changed")
    with pytest.raises(ManagedPromptLocked, match="cannot be deleted"):
        library.remove("Incident summary")
    with pytest.raises(InvalidPrompt, match="organization provides"):
        library.add("incident SUMMARY", "mine")  # its name is taken, whatever the case
    assert library.find("Incident summary").body.startswith("Summarise the incident")


def test_own_prompts_are_added_edited_and_removed_in_the_encrypted_history(
    paths: AppPaths, policy: EffectivePolicy
) -> None:
    with open_history(paths, passphrase=PASSPHRASE) as store:
        library = PromptLibrary(store, policy)
        saved = library.add("Memo", "Write a memo.")
        with pytest.raises(StoredPromptExists):
            library.add("MEMO", "again")
        library.edit(str(saved.id), name="Memo v2", body="Write a short memo.", kind="system")
    with open_history(paths, passphrase=PASSPHRASE) as store:
        library = PromptLibrary(store, policy)
        found = library.find("memo v2")
        assert (found.id, found.body, found.kind) == (saved.id, "Write a short memo.", "system")
        library.remove("Memo v2")
        with pytest.raises(PromptNotFound, match="enclave prompts list"):
            library.find("Memo v2")
    assert b"Write a short memo" not in paths.database_file.read_bytes()  # encrypted at rest


def test_a_conversations_system_prompt_is_set_cleared_and_goes_with_it(
    store: HistoryStore, policy: EffectivePolicy
) -> None:
    library = PromptLibrary(store, policy)
    cid = store.create_conversation("plans")
    assert library.set_conversation_prompt(cid, " Be\u200b brief.\r\n") == "Be brief."
    assert library.conversation_prompt(cid) == "Be brief."
    library.use("House style", cid)  # a managed system prompt may be chosen
    assert library.conversation_prompt(cid) == "Answer in plain British English."
    with pytest.raises(InvalidPrompt, match="not a system prompt"):
        library.use("Incident summary", cid)
    with pytest.raises(InvalidPrompt):
        library.set_conversation_prompt(cid, "x" * (MAX_BODY_CHARS + 1))
    library.set_conversation_prompt(cid, "  ")
    assert library.conversation_prompt(cid) is None
    with pytest.raises(ConversationNotFound):
        library.set_conversation_prompt(cid + 1, "orphan")
    library.set_conversation_prompt(cid, "Be brief.")
    store.delete_conversation(cid)
    assert library.conversation_prompt(cid) is None
    assert library.site_system_prompt() == MANAGED["prompts"]["system"]


def test_the_system_message_a_turn_opens_with(
    store: HistoryStore, policy: EffectivePolicy
) -> None:
    site = MANAGED["prompts"]["system"]
    cid = store.create_conversation("c")
    store.set_conversation_system_prompt(cid, "Own.")
    user = ChatMessage("user", "Hi")
    client = ChatMessage("system", "Client.")

    def first(history: list[ChatMessage], base: str | None = None,
              where: int | None = cid, with_policy: bool = True) -> ChatMessage:
        return with_system_prompt(history, base=base, policy=policy if with_policy else None,
                                  store=store, conversation_id=where)[0]

    assert first([user]) == ChatMessage("system", f"{site}\n\nOwn.")
    assert first([user], base="Eval.") == ChatMessage("system", f"{site}\n\nEval.\n\nOwn.")
    assert first([client, user], base="Eval.") == ChatMessage(
        "system", f"{site}\n\nOwn.\n\nClient.")  # as before: a stored one stands for base
    assert first([user], where=None) == ChatMessage("system", site)
    assert first([user], with_policy=False) == ChatMessage("system", "Own.")
    assert first([user], where=None, with_policy=False) == user  # nothing to add
    messages = with_system_prompt([user], base=None, policy=policy, store=None,
                                  conversation_id=cid)  # an unsaved session: no store
    assert messages == [ChatMessage("system", site), user]
    digest = system_prompt_sha256(messages)
    assert digest == hashlib.sha256(site.encode()).hexdigest()
    assert system_prompt_sha256([user]) is None


# -- the policy key -------------------------------------------------------------------------


@pytest.mark.parametrize(("prompts", "problem"), [
    ({"managed": [{"name": "", "body": "x"}]}, "prompts.managed"),
    ({"managed": [{"name": "a", "body": "\u200b"}]}, "prompts.managed"),
    ({"managed": [{"name": "a", "body": "x", "kind": "developer"}]}, "prompts.managed"),
    ({"managed": [{"name": "a", "body": "x"}, {"name": "A", "body": "y"}]}, "prompts.managed"),
    ({"managed": [{"name": "a", "body": "x", "locked": False}]}, "prompts.managed"),
    ({"system": "x" * (MAX_BODY_CHARS + 1)}, "prompts.system"),
    ({"system": 42}, "prompts.system"),
])
def test_a_bad_prompt_entry_makes_the_policy_invalid_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prompts: dict[str, object], problem: str
) -> None:
    policy = load_policy(policy_root(tmp_path, {"prompts": prompts}))
    assert policy.restricted
    assert problem in " ".join(policy.restricted_reasons)
    assert policy.get("prompts.managed") == [] and policy.get("prompts.system") is None
    file = tmp_path / "prompts.json"
    file.write_text(json.dumps({"schema_version": 1, "prompts": prompts}))
    assert main(["policy", "validate", str(file)]) == 1
    assert f"$.{problem}" in capsys.readouterr().err


# -- migration and recovery -----------------------------------------------------------------


def _raw(paths: AppPaths):  # type: ignore[no-untyped-def]
    key_file = read_key_file(paths.database_file)
    assert key_file is not None and key_file.current.kdf is not None
    return connect(paths.database_file, derive_key(PASSPHRASE, key_file.current.kdf),
                   create=False)


def test_a_version_5_history_is_migrated_and_keeps_its_conversations(paths: AppPaths) -> None:
    assert SCHEMA_VERSION == 6
    with open_history(paths, passphrase=PASSPHRASE) as store:
        cid = store.create_conversation("kept across the upgrade")
        store.add_message(cid, "user", "hello from version 5")
        store.mark_sensitive(cid, "marked before", 1.0)
    conn = _raw(paths)  # make it exactly what version 5 left: no prompt tables
    conn.execute("DROP TABLE prompts")
    conn.execute("DROP TABLE conversation_system_prompts")
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    with open_history(paths, passphrase=PASSPHRASE) as store:
        assert store.schema_version() == 6
        assert [m.text for m in store.messages(cid)] == ["hello from version 5"]
        assert store.sensitive_reason(cid) == "marked before"
        store.add_prompt("After", "Saved after the upgrade.")
        store.set_conversation_system_prompt(cid, "Be brief.")
    with open_history(paths, passphrase=PASSPHRASE) as store:
        assert [p.name for p in store.saved_prompts()] == ["After"]
        assert store.conversation_system_prompt(cid) == "Be brief."


def test_recovery_carries_saved_prompts_and_system_prompts(paths: AppPaths) -> None:
    with open_history(paths, passphrase=PASSPHRASE) as store:
        cid = store.create_conversation("with a system prompt")
        store.set_conversation_system_prompt(cid, "Answer in French.")
        store.add_prompt("Memo", "Write a memo.", "prompt")
        for i in range(40):  # enough messages for pages that are not the prompts'
            store.add_message(cid, "user", f"message {i} " + "lorem ipsum " * 60)
    conn = _raw(paths)
    keep = {int(r[0]) - 1 for r in conn.execute(  # rootpage counts from 1
        "SELECT rootpage FROM sqlite_master WHERE name IN "
        "('prompts', 'conversation_system_prompts', 'conversations')")}
    conn.close()
    key_file = read_key_file(paths.database_file)
    assert key_file is not None and key_file.current.kdf is not None
    key = derive_key(PASSPHRASE, key_file.current.kdf)
    original = paths.database_file.read_bytes()
    for page in range(len(original) // PAGE_SIZE - 1, 0, -1):  # a message page, not the schema's
        damaged = bytearray(original)
        damaged[page * PAGE_SIZE + 1500] ^= 0x01
        paths.database_file.write_bytes(bytes(damaged))
        if page not in keep and probe(paths.database_file, key) is not None:
            break
    recover_history(paths.database_file, PASSPHRASE)
    with open_history(paths, passphrase=PASSPHRASE) as store:
        assert store.integrity_problems() == []
        assert [(p.name, p.body) for p in store.saved_prompts()] == [("Memo", "Write a memo.")]
        assert store.conversation_system_prompt(cid) == "Answer in French."


# -- the command line -----------------------------------------------------------------------


def test_the_prompts_command(paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    import app.core.paths

    root = policy_root(tmp_path, MANAGED)
    monkeypatch.setattr(app.core.paths, "_machine_policy_root", lambda: root)
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    pw = ["--passphrase-file", str(secret)]
    with open_history(paths, passphrase=PASSPHRASE) as store:
        cid = store.create_conversation("for the command line")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["prompts", *args, *pw])
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("add", "Memo\u200b", "Write a memo.")[0] == 0
    body = tmp_path / "tone.txt"
    body.write_text("Be terse.\r\n")
    assert run("add", "Tone", "--file", str(body), "--kind", "system")[0] == 0
    code, out, _ = run("list", "--json")
    listed = json.loads(out)
    assert [(p["name"], p["managed"]) for p in listed] == [
        ("Incident summary", True), ("House style", True), ("Memo", False), ("Tone", False)]
    assert run("show", "tone")[1] == "Be terse.\n"
    code, _, err = run("edit", "House style", "changed")
    assert code == 7 and "managed by your organization" in err  # REFUSED
    code, _, err = run("remove", "Incident summary")
    assert code == 7 and "cannot be deleted" in err
    code, _, err = run("add", "12", "digits only")
    assert code == 2 and "only digits" in err
    assert run("use", "Tone", "--conversation", str(cid))[0] == 0
    code, out, _ = run("system", str(cid), "--json")
    assert json.loads(out) == {"conversation_id": cid, "site": MANAGED["prompts"]["system"],
                               "conversation": "Be terse."}
    assert run("system", str(cid), "--clear")[0] == 0
    code, out, _ = run("system", str(cid))
    assert "no system prompt of its own" in out and "always first" in out
    code, _, err = run("system", str(cid + 1), "text")
    assert code == 2 and "no conversation" in err
    assert run("remove", "memo")[0] == 0
    assert [p["name"] for p in json.loads(run("list", "--json", "--kind", "prompt")[1])] == [
        "Incident summary"]
