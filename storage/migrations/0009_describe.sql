-- /describe: a job that writes prompts from its image instead of making images. ``describe`` is its
-- detail (standard | detailed; NULL: a generation), ``suggestions`` the prompts it wrote, as a JSON
-- list (NULL until it is done, and for every other job).

ALTER TABLE jobs ADD COLUMN describe TEXT;
ALTER TABLE jobs ADD COLUMN suggestions TEXT;
