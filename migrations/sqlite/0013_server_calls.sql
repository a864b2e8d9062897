-- Video calls of consultations: one row per call, from the moment both the
-- requesting clinician and the expert are connected until one of them is
-- gone. At most one call of a consultation is open at a time.
CREATE TABLE consultation_call (
    id              INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultation (id),
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX consultation_call_by_consultation ON consultation_call (consultation_id, started_at);
CREATE UNIQUE INDEX consultation_call_one_open ON consultation_call (consultation_id) WHERE ended_at IS NULL;
