-- Upscale jobs (issue 23): the factor the super-resolution model enlarges the picture by (NULL: not an
-- upscale); a strength with it asks for the detail pass.
ALTER TABLE jobs ADD COLUMN upscale REAL;
