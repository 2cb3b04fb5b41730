-- The HTTP API: keys that act as one Discord user, the API jobs' webhooks, and a durable outbox of
-- webhook deliveries (so a delivery survives a restart and fires once per job and event).

CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL,                 -- the Discord user the key acts as
    name           TEXT NOT NULL DEFAULT '',
    key_hash       TEXT NOT NULL UNIQUE,             -- sha256 hex of the key; the key itself is never stored
    prefix         TEXT NOT NULL,                    -- the key's first characters, to tell keys apart
    webhook_secret TEXT NOT NULL,                    -- whsec_…: signs this key's webhooks (needed in clear)
    created_at     REAL NOT NULL,
    last_used_at   REAL,
    revoked_at     REAL
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

-- An API job: the key that queued it (NULL for Discord jobs; SET NULL when the key's user is forgotten)
-- and the URL its webhooks go to.
ALTER TABLE jobs ADD COLUMN api_key_id INTEGER REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN webhook_url TEXT;
CREATE INDEX jobs_by_api_key ON jobs (api_key_id);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    event        TEXT NOT NULL,                      -- job.started | job.completed
    url          TEXT NOT NULL,
    api_key_id   INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    body         TEXT NOT NULL,                      -- the JSON sent, fixed when the event happened
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL NOT NULL,                      -- when to try next
    delivered_at REAL,
    gave_up_at   REAL,
    last_error   TEXT,
    created_at   REAL NOT NULL,
    UNIQUE (job_id, event)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_deliveries_by_key ON webhook_deliveries (api_key_id);
