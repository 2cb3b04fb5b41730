-- Structure control: the ControlNet a job keeps its reference's composition with (canny | depth;
-- NULL: none) and how strongly (NULL without a structure).

ALTER TABLE jobs ADD COLUMN structure TEXT;
ALTER TABLE jobs ADD COLUMN structure_weight REAL;

-- The map the ControlNet read (edges or depth), kept with the outputs for the result's Show structure.
ALTER TABLE jobs ADD COLUMN structure_media TEXT REFERENCES media (sha256);
CREATE INDEX jobs_by_structure_media ON jobs (structure_media);
