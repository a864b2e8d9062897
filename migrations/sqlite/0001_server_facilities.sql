-- Facilities of the consortium. A facility's parent must sit on a higher tier;
-- the parent's tier is copied into the child and tied to it by a composite
-- foreign key with ON UPDATE CASCADE, so the CHECK below is re-evaluated even
-- when the parent's tier changes later.
CREATE TABLE facility (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    tier        TEXT    NOT NULL CHECK (tier IN ('tertiary', 'secondary', 'primary', 'village')),
    parent_id   INTEGER,
    parent_tier TEXT,
    time_zone   TEXT    NOT NULL CHECK (length(time_zone) > 0),
    contact     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (id, tier),
    FOREIGN KEY (parent_id, parent_tier) REFERENCES facility (id, tier) ON UPDATE CASCADE,
    CHECK ((parent_id IS NULL) = (parent_tier IS NULL)),
    CHECK (parent_id IS NULL OR parent_id <> id),
    CHECK (
        parent_tier IS NULL OR
        (CASE parent_tier WHEN 'tertiary' THEN 1 WHEN 'secondary' THEN 2 WHEN 'primary' THEN 3 ELSE 4 END)
        <
        (CASE tier WHEN 'tertiary' THEN 1 WHEN 'secondary' THEN 2 WHEN 'primary' THEN 3 ELSE 4 END)
    )
);
CREATE INDEX facility_parent ON facility (parent_id);
