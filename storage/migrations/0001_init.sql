-- Initial schema. Times are REAL unix seconds (UTC, from time.time()).
-- Every (table, column) that references media(sha256) must be listed in storage/schema.py
-- MEDIA_REFERENCES (a test compares it with PRAGMA foreign_key_list).

CREATE TABLE media (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    ext        TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at REAL NOT NULL
);

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL,
    guild_id            INTEGER,
    channel_id          INTEGER,
    status              TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    mode                TEXT NOT NULL,
    prompt              TEXT NOT NULL,
    negative            TEXT NOT NULL DEFAULT '',
    strength            REAL,
    cfg                 REAL NOT NULL,
    steps               INTEGER NOT NULL,
    seed                INTEGER NOT NULL,
    candidates          INTEGER NOT NULL,
    style               TEXT,
    expand              TEXT,
    image_weight        REAL NOT NULL,
    aspect              TEXT NOT NULL,
    input_media         TEXT REFERENCES media (sha256),
    mask_media          TEXT REFERENCES media (sha256),
    parent_job_id       INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    origin              TEXT NOT NULL DEFAULT 'command',       -- command | reroll | vary (checked in Python)
    application_id      INTEGER,                               -- where to deliver:
    interaction_token   TEXT,
    token_expires_at    REAL,
    message_id          INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,            -- times claimed by a worker
    error               TEXT,
    warnings            TEXT NOT NULL DEFAULT '[]',            -- JSON list of strings
    cancel_requested_at REAL,                                  -- owner cancelled while running
    created_at          REAL NOT NULL,
    started_at          REAL,
    finished_at         REAL,
    engine_seconds      REAL,
    delivered_at        REAL,
    result_message_id   INTEGER,
    result_channel_id   INTEGER
);

-- The queue: counting and ordering queued jobs, and the fair pick (per user, oldest first).
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
CREATE INDEX jobs_queued_by_user ON jobs (user_id, id) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (id) WHERE status = 'running';
-- Per-user limits and /history.
CREATE INDEX jobs_by_user_status ON jobs (user_id, status);
-- History sweep and recent durations.
CREATE INDEX jobs_by_finished_at ON jobs (finished_at);
-- Redelivery after a restart.
CREATE INDEX jobs_undelivered ON jobs (id) WHERE delivered_at IS NULL AND status IN ('done', 'failed');
-- Foreign-key children: without these every media/job delete scans the whole jobs table.
CREATE INDEX jobs_by_input_media ON jobs (input_media);
CREATE INDEX jobs_by_mask_media ON jobs (mask_media);
CREATE INDEX jobs_by_parent ON jobs (parent_job_id);

CREATE TABLE job_outputs (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx    INTEGER NOT NULL,
    media  TEXT NOT NULL REFERENCES media (sha256),
    seed   INTEGER NOT NULL,
    width  INTEGER NOT NULL,
    height INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

CREATE INDEX job_outputs_by_media ON job_outputs (media);

-- Round-robin state for the fair pick; survives restarts. served_seq is a counter rather than
-- served_at so ordering never depends on clock resolution or the clock going backwards.
CREATE TABLE user_last_served (
    user_id    INTEGER PRIMARY KEY,
    served_seq INTEGER NOT NULL UNIQUE,
    served_at  REAL NOT NULL
);
