-- Structure control: the ControlNet a job keeps its reference's composition with (canny | depth;
-- NULL: none) and how strongly (NULL without a structure).

ALTER TABLE jobs ADD COLUMN structure TEXT;
ALTER TABLE jobs ADD COLUMN structure_weight REAL;
