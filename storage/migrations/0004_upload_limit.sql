-- The upload limit of the interaction that queued a job (bytes), so a result delivered after a restart
-- still fits where it was asked for (a boosted server's or a user-installed app's larger limit).

ALTER TABLE jobs ADD COLUMN upload_limit INTEGER;
