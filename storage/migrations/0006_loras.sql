-- A job's style LoRAs: a JSON list of [name, weight] pairs, in the order given ('[]': none).

ALTER TABLE jobs ADD COLUMN loras TEXT NOT NULL DEFAULT '[]';
