-- Face lock's settings are one record in the bot (``JobParams.face``), stored as the columns
-- face_<field>: all NULL without face lock, and face_weight set exactly when the job was made for a
-- character (so a job whose character was deleted meanwhile, character_id SET NULL, is still
-- recognisable as face-locked).

ALTER TABLE jobs RENAME COLUMN identity_weight TO face_weight;
ALTER TABLE jobs RENAME COLUMN identity_mode TO face_mode;
ALTER TABLE jobs RENAME COLUMN min_identity TO face_min_identity;
ALTER TABLE jobs RENAME COLUMN max_tries TO face_max_tries;
