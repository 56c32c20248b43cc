"""The documents tables, versioned in their own ``docs_meta`` row.

The history store owns ``PRAGMA user_version`` and its own tables; documents live in the same
encrypted file but never touch them. Migration ``n`` (index ``n - 1``) brings the documents
tables from version ``n - 1`` to ``n``; append new ones, never edit a released one.
"""

from __future__ import annotations

EMBEDDING_DIM = 384
# Which copy of the embedding model made an index's vectors (``embed_optimize``): ``exact``
# gives the catalog model's vectors, ``fast`` the int8 copy's. Kept in ``docs_meta``.
EXACT_EMBEDDER = "exact"
FAST_EMBEDDER = "fast"
EMBEDDERS = (EXACT_EMBEDDER, FAST_EMBEDDER)
EMBEDDER_KEY = "embedder"


def default_embedder() -> str:
    """The copy of the embedding model a new index takes.

    ``fast`` (int8), except on a GPU build of onnxruntime: its CUDA kernels run the exact
    copy whole, while the int8 copy's quantized MatMuls are CPU kernels.
    """
    from importlib import metadata

    try:
        metadata.version("onnxruntime-gpu")
    except metadata.PackageNotFoundError:
        return FAST_EMBEDDER
    return EXACT_EMBEDDER


_V1 = f"""
CREATE TABLE doc_collections (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    local_only INTEGER NOT NULL DEFAULT 0 CHECK (local_only IN (0, 1)),
    created    REAL    NOT NULL
);

CREATE TABLE doc_files (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES doc_collections (id) ON DELETE CASCADE,
    path          TEXT    NOT NULL,
    sha256        TEXT,
    size          INTEGER,
    mtime         REAL,
    status        TEXT    NOT NULL CHECK (status IN ('indexed', 'skipped')),
    error         TEXT,
    warning       TEXT,
    chunks        INTEGER NOT NULL DEFAULT 0,
    updated       REAL    NOT NULL,
    UNIQUE (collection_id, path)
);

CREATE TABLE doc_chunks (
    id         INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES doc_files (id) ON DELETE CASCADE,
    ordinal    INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    page       INTEGER,
    heading    TEXT,
    char_start INTEGER NOT NULL,
    char_end   INTEGER NOT NULL,
    hidden     INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    -- The float32 vector again, for re-ranking coarse candidates: a point lookup in vec0
    -- reads a whole vector chunk, a row here reads 1.5 KB.
    vector     BLOB    NOT NULL
);
CREATE INDEX doc_chunks_by_file ON doc_chunks (file_id, ordinal);

CREATE VIRTUAL TABLE doc_chunks_fts USING fts5 (
    text, content = 'doc_chunks', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Per-term document counts: retrieval leaves out words too common to rank by.
CREATE VIRTUAL TABLE doc_chunks_fts_terms USING fts5vocab (doc_chunks_fts, row);
-- Deleted chunks leave no tokens behind in the index (not just a tombstone).
INSERT INTO doc_chunks_fts (doc_chunks_fts, rank) VALUES ('secure-delete', 1);

-- Vectors are unit length, so L2 ranks exactly as cosine does (and L2 has SIMD kernels).
-- ``coarse`` is the sign bit of each dimension: a 48-byte index scanned first on large
-- collections, whose candidates are then re-ranked with the full vectors.
CREATE VIRTUAL TABLE doc_vectors USING vec0 (
    embedding float[{EMBEDDING_DIM}],
    coarse bit[{EMBEDDING_DIM}],
    collection_id integer
);

CREATE TRIGGER doc_chunks_insert AFTER INSERT ON doc_chunks BEGIN
    INSERT INTO doc_chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER doc_chunks_delete AFTER DELETE ON doc_chunks BEGIN
    INSERT INTO doc_chunks_fts (doc_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    DELETE FROM doc_vectors WHERE rowid = old.id;
END;
"""

_V2 = """
-- Each large collection's HNSW graph (ann.py), serialised in parts so no single row is huge.
-- It is derived data, kept here so it is encrypted like the chunks it points at. ``watermark``
-- is the highest chunk id the database held when the graph was saved: chunks above it were
-- added since, and are added to the graph when it loads.
CREATE TABLE doc_ann (
    collection_id INTEGER PRIMARY KEY REFERENCES doc_collections (id) ON DELETE CASCADE,
    format        TEXT    NOT NULL,
    watermark     INTEGER NOT NULL,
    vectors       INTEGER NOT NULL,
    parts         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    saved         REAL    NOT NULL
);
CREATE TABLE doc_ann_parts (
    collection_id INTEGER NOT NULL REFERENCES doc_ann (collection_id) ON DELETE CASCADE,
    part          INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    PRIMARY KEY (collection_id, part)
);
-- Chunks deleted since their collection's graph was saved: removed from it when it loads.
-- Only chunks the saved graph may hold are noted, so the table stays small.
CREATE TABLE doc_ann_removed (
    chunk_id      INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES doc_ann (collection_id) ON DELETE CASCADE
);
CREATE TRIGGER doc_chunks_ann_delete AFTER DELETE ON doc_chunks BEGIN
    INSERT OR IGNORE INTO doc_ann_removed (chunk_id, collection_id)
    SELECT old.id, a.collection_id FROM doc_ann a JOIN doc_files f
        ON f.collection_id = a.collection_id
    WHERE f.id = old.file_id AND old.id <= a.watermark;
END;
"""

_V3 = """
-- Each graph is split into shards saved one at a time (shards.py): one usearch save holds
-- the GIL for its whole run, so a single graph of a million vectors froze the GUI ~250 ms.
-- ``doc_ann`` stays as the collection's summary; its ``watermark`` (the highest of its
-- shards') decides which deletions ``doc_ann_removed`` notes. Graphs saved whole by the
-- previous version are dropped here and rebuilt in shards on first use (exact search
-- meanwhile). A shard covers the chunk ids from its ``low`` up to the next shard's ``low``;
-- its ``watermark`` is the highest chunk id the database held when that shard was saved.
DELETE FROM doc_ann_removed;
DROP TABLE doc_ann_parts;
DELETE FROM doc_ann;
CREATE TABLE doc_ann_shards (
    collection_id INTEGER NOT NULL REFERENCES doc_ann (collection_id) ON DELETE CASCADE,
    shard         INTEGER NOT NULL,
    low           INTEGER NOT NULL,
    format        TEXT    NOT NULL,
    watermark     INTEGER NOT NULL,
    vectors       INTEGER NOT NULL,
    parts         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    saved         REAL    NOT NULL,
    PRIMARY KEY (collection_id, shard)
);
CREATE TABLE doc_ann_parts (
    collection_id INTEGER NOT NULL,
    shard         INTEGER NOT NULL,
    part          INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    PRIMARY KEY (collection_id, shard, part),
    FOREIGN KEY (collection_id, shard) REFERENCES doc_ann_shards (collection_id, shard)
        ON DELETE CASCADE
);
"""

_V4 = f"""
-- Which embedding model copy made the vectors (``embedder`` in docs_meta): an index that
-- already holds vectors keeps the exact one, so nothing is re-embedded and its questions
-- are embedded as its documents were. An empty one is given the default copy when it is
-- opened (``default_embedder``: it depends on the onnxruntime build).
INSERT OR IGNORE INTO docs_meta (key, value)
SELECT '{EMBEDDER_KEY}', '{EXACT_EMBEDDER}' WHERE EXISTS (SELECT 1 FROM doc_chunks);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)

SCHEMA_VERSION = len(MIGRATIONS)

META_DDL = "CREATE TABLE IF NOT EXISTS docs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
VERSION_KEY = "schema_version"
