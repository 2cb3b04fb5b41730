-- Clip skip, as A1111 counts it (1: the text encoder's last layer; NULL: the model's own, the same).

ALTER TABLE jobs ADD COLUMN clip_skip INTEGER;
