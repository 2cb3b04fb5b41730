-- Community servers (issue 24): each server's settings, bans from the bot, and the daily job quota.

-- One row per setting a server changed (``/likeness settings``); a setting without a row is the
-- bot's default, so resetting one is deleting its row. ``value`` is JSON, read by bot.guilds.
CREATE TABLE guild_settings (
    guild_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_by INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (guild_id, name)
);

-- A member banned from the bot in one server, or (guild_id 0) everywhere by the bot's owner, which
-- stops their API keys too. ``expires_at`` NULL: until unbanned.
CREATE TABLE bans (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    banned_by  INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    PRIMARY KEY (guild_id, user_id)
);

-- One row per job counted against a daily quota, written with the job. No foreign key: deleting a
-- job (Delete, the history sweep) does not give its count back. ``guild_id`` NULL: a job from the
-- API, a DM or the command line, which counts in every server. ``day`` is the UTC date.
CREATE TABLE daily_charges (
    job_id     INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    guild_id   INTEGER,
    day        TEXT NOT NULL
);
CREATE INDEX daily_charges_by_user ON daily_charges (user_id, day);

-- The refund: a job that failed, or was cancelled before it ran (a ban cancels the queue too), gives
-- its count back, whichever code path wrote the status.
CREATE TRIGGER daily_refund AFTER UPDATE OF status ON jobs
WHEN NEW.status = 'failed' OR (NEW.status = 'cancelled' AND NEW.started_at IS NULL)
BEGIN
    DELETE FROM daily_charges WHERE job_id = NEW.id;
END;
