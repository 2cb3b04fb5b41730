-- The sampler and schedule type by their A1111 names (NULL on older jobs: the model's own scheduler).

ALTER TABLE jobs ADD COLUMN sampler TEXT;
ALTER TABLE jobs ADD COLUMN schedule TEXT;
