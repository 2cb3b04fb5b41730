-- Why a job failed, as a stable kind (bot.errors' codes: out_of_memory, no_face, …; "bug" for an
-- unexpected error, "interrupted" for a job restarts or lost workers could not finish), beside the
-- message the user read. /likeness stats counts failures by it. NULL: an older failure.
ALTER TABLE jobs ADD COLUMN error_code TEXT;
