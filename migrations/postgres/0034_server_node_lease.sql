-- The nodes running now. Each renews its row every second; a row left
-- unrenewed past the lease is a node that died (kill -9, a lost machine),
-- and the node that deletes it clears what the dead one left behind: its
-- participants in calls, the calls they held open, its recordings.
CREATE TABLE node_lease (
    node       TEXT   PRIMARY KEY,
    started_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL
);

-- Who is connected to which call, and through which node. A participant
-- is connected once (a new connection replaces the old, wherever it was).
CREATE TABLE call_presence (
    room      TEXT   NOT NULL,
    peer      TEXT   NOT NULL,
    node      TEXT   NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room, peer)
);
CREATE INDEX call_presence_by_node ON call_presence (node);

-- With object storage, a recording's files are shipped while the call goes
-- on, each as numbered parts; a part is listed here once the store has it.
-- The whole file replaces its parts when the recording ends.
CREATE TABLE call_recording_part (
    recording_id BIGINT NOT NULL REFERENCES call_recording (id),
    file_name    TEXT   NOT NULL,
    seq          BIGINT NOT NULL CHECK (seq >= 0),
    bytes        BIGINT NOT NULL CHECK (bytes > 0),
    PRIMARY KEY (recording_id, file_name, seq)
);
