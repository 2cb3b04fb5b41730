-- The job's speed: quality, fast or turbo (NULL on older jobs: quality, the only speed then).

ALTER TABLE jobs ADD COLUMN speed TEXT;
