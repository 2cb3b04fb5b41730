-- The NSFW check (issue 24): each output's score from the NSFW classifier (0–1; NULL when no
-- classifier ran, on older outputs too), and whether an API key's owner allows flagged outputs to it
-- (off: the API withholds them from that key).
ALTER TABLE job_outputs ADD COLUMN nsfw REAL;
ALTER TABLE api_keys ADD COLUMN allow_nsfw INTEGER NOT NULL DEFAULT 0;
