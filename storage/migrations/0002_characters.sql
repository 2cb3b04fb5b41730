-- Character reference sets: one user's images of one person, mascot or product.
-- Embeddings are opaque float32 little-endian vectors made by the bot; *_backend names the face
-- model and *_dim its vector length. Media references are listed in storage/schema.py.

CREATE TABLE characters (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL,
    name              TEXT NOT NULL,                  -- as the user typed it (stripped, NFC)
    name_key          TEXT NOT NULL,                  -- NFKC + casefold: uniqueness and search
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    embedding         BLOB,                           -- the combined embedding of the set
    embedding_backend TEXT,
    embedding_dim     INTEGER,
    UNIQUE (user_id, name_key)
);

-- position is the number users see: 1..n without gaps, and the primary is always number 1
-- (the CHECK ties role to position, so the two can never disagree).
CREATE TABLE reference_images (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    character_id      INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    media             TEXT NOT NULL REFERENCES media (sha256),
    role              TEXT NOT NULL CHECK (role IN ('primary', 'reference')),
    position          INTEGER NOT NULL CHECK (position >= 1),
    embedding         BLOB,                           -- NULL: not computed, or no face found
    embedding_backend TEXT,                           -- set with a NULL embedding: no face found
    embedding_dim     INTEGER,
    face_box          TEXT,                           -- JSON [x0, y0, x1, y1] or NULL
    quality           TEXT NOT NULL DEFAULT '{}',     -- JSON: {"warnings": [...], metrics...}
    created_at        REAL NOT NULL,
    CHECK ((role = 'primary') = (position = 1)),
    UNIQUE (character_id, position),
    UNIQUE (character_id, media)
);

CREATE UNIQUE INDEX reference_images_one_primary ON reference_images (character_id) WHERE role = 'primary';
CREATE INDEX reference_images_by_media ON reference_images (media);

-- Face-locked jobs (later): the character a job was made for; kept NULL when it is deleted.
ALTER TABLE jobs ADD COLUMN character_id INTEGER REFERENCES characters (id) ON DELETE SET NULL;
CREATE INDEX jobs_by_character ON jobs (character_id);
