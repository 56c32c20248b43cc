"""The history schema and its migrations, versioned with ``PRAGMA user_version``.

Migration ``n`` (index ``n - 1`` in ``MIGRATIONS``) brings a database from version ``n - 1``
to ``n``. Append new migrations; never edit a released one.
"""

from __future__ import annotations

_V1 = """
CREATE TABLE conversations (
    id       INTEGER PRIMARY KEY,
    title    TEXT    NOT NULL,
    created  REAL    NOT NULL,
    updated  REAL    NOT NULL,
    pinned   INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    route    TEXT    NOT NULL DEFAULT 'local'
);
CREATE INDEX conversations_by_list_order ON conversations (pinned DESC, updated DESC, id DESC);
CREATE INDEX conversations_by_updated ON conversations (updated);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id         INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    text              TEXT    NOT NULL,
    model_id          TEXT,
    model_sha256      TEXT,
    route             TEXT    NOT NULL DEFAULT 'local',
    created           REAL    NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    ttft_ms           REAL,
    tokens_per_s      REAL,
    complete          INTEGER NOT NULL DEFAULT 1 CHECK (complete IN (0, 1))
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_parent ON messages (parent_id);

-- External-content FTS5: the index holds tokens, the text stays in messages.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Per-term document counts: search uses them to spot words too common to rank by.
CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab (messages_fts, row);
-- Deleted rows leave no tokens behind in the index (not just a tombstone).
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
"""

_V2 = """
-- Placeholder -> original for requests redacted before leaving the machine. Kept only here,
-- encrypted with the history, so a resumed conversation reuses its placeholders and answers
-- that quote them can be shown restored.
CREATE TABLE redactions (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    placeholder     TEXT    NOT NULL,
    original        TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, placeholder)
);
"""

_V3 = """
-- The numbered passages an answer was grounded on: its [n] citations, kept with it so they
-- show under the answer when the conversation is reopened and go into every export.
-- ``sha256`` is the document's digest when it was cited: a changed document can be told.
CREATE TABLE message_sources (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL CHECK (n >= 1),
    collection  TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    page        INTEGER,
    heading     TEXT,
    char_start  INTEGER NOT NULL,
    char_end    INTEGER NOT NULL,
    sha256      TEXT,
    text        TEXT    NOT NULL,
    flagged     INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),
    PRIMARY KEY (message_id, n)
);

-- The collections a conversation answers from (its scope). Nothing else uses them.
CREATE TABLE conversation_collections (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    collection      TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, collection)
);
"""

_V4 = """
-- Tokens of the local OpenAI-compatible API. Only the SHA-256 of each token is kept: the
-- token itself is shown once, when it is created. A revoked token keeps its row (``list``
-- shows it) until a new token takes its name.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    token_sha256 TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    route        TEXT    NOT NULL DEFAULT 'local',
    created      REAL    NOT NULL,
    expires      REAL,
    revoked      REAL,
    last_used    REAL
);
"""

_V5 = """
-- Conversations whose content must not leave this machine any more (auto routing's
-- stickiness): marked by the analyst, or by a turn that carried something sensitive. Once
-- marked, no later turn sends the conversation's earlier context out.
CREATE TABLE sensitive_conversations (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    marked          REAL    NOT NULL,
    reason          TEXT    NOT NULL
);
"""

_V6 = """
-- The prompt library: the user's own saved prompts and system prompts (the organization's
-- come from policy and are never stored here). Names are unique regardless of case, so a
-- name typed at the command line finds one prompt.
CREATE TABLE prompts (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    body     TEXT    NOT NULL,
    kind     TEXT    NOT NULL DEFAULT 'prompt' CHECK (kind IN ('prompt', 'system')),
    created  REAL    NOT NULL,
    updated  REAL    NOT NULL
);

-- A conversation's own system prompt, given to the model after the site's (policy) one.
CREATE TABLE conversation_system_prompts (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    body            TEXT    NOT NULL,
    updated         REAL    NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6)

SCHEMA_VERSION = len(MIGRATIONS)
