-- The checkpoint a job runs on, by its LIKENESS_MODELS name (NULL on older jobs: the default model),
-- and where the queue's current round began (storage.fair): the serve counter then. Within a round
-- the jobs for a loaded model go first; every user is still served once per round.
ALTER TABLE jobs ADD COLUMN model TEXT;

CREATE TABLE fair_round (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO fair_round (id, seq) VALUES (1, 0);
