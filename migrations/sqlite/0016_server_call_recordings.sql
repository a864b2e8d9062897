-- Recordings of consultation calls, made only while every participant
-- present consents. One open recording per consultation at a time, across
-- nodes: the node that wins the insert runs the recorder.
CREATE TABLE call_recording (
    id              INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultation (id),
    node            TEXT   NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    -- Why it stopped: consent_withdrawn, participant_left, shutdown, interrupted.
    stop_reason     TEXT,
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK ((ended_at IS NULL) = (stop_reason IS NULL))
);
CREATE INDEX call_recording_by_consultation ON call_recording (consultation_id, started_at);
CREATE UNIQUE INDEX call_recording_one_open ON call_recording (consultation_id) WHERE ended_at IS NULL;

-- The files of a recording: one per participant, track and connection.
-- `path` is relative to the recording directory.
CREATE TABLE call_recording_file (
    id             INTEGER PRIMARY KEY,
    recording_id   INTEGER NOT NULL REFERENCES call_recording (id),
    participant_id INTEGER NOT NULL REFERENCES app_user (id),
    kind           TEXT   NOT NULL CHECK (kind IN ('video', 'audio')),
    media_type     TEXT   NOT NULL,
    path           TEXT   NOT NULL UNIQUE,
    bytes          INTEGER NOT NULL CHECK (bytes >= 0),
    frames         INTEGER NOT NULL CHECK (frames > 0),
    duration_ms    INTEGER NOT NULL CHECK (duration_ms >= 0)
);
CREATE INDEX call_recording_file_by_recording ON call_recording_file (recording_id);
