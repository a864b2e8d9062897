-- Small facts about this installation, such as whether the demo consortium
-- was seeded.
CREATE TABLE ferry_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
