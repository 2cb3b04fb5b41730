-- Face-locked jobs: the face-lock settings a job was queued with (all NULL without a character;
-- identity_weight is set exactly when the job was made for a character, so a job whose character
-- was deleted meanwhile, character_id SET NULL, is still recognisable) and each output's score.

ALTER TABLE jobs ADD COLUMN identity_weight REAL;
ALTER TABLE jobs ADD COLUMN identity_mode TEXT;
ALTER TABLE jobs ADD COLUMN min_identity REAL;
ALTER TABLE jobs ADD COLUMN max_tries INTEGER;
ALTER TABLE jobs ADD COLUMN tries INTEGER;                -- generation rounds run (set when done)

-- cosine of the output's largest face to the character; NULL: no face found, or not scored
ALTER TABLE job_outputs ADD COLUMN identity REAL;
