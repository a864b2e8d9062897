-- The consortium's rules of mutual recognition (互认): a result of
-- `modality` (of `body_part`, or any when empty) done at a facility of
-- `min_tier` or a higher tier is recognised for `valid_days` after it was
-- done, and need not be repeated; any other prior result is for reference
-- only. Kept by administrators.
CREATE TABLE recognition_rule (
    id          INTEGER PRIMARY KEY,
    modality    TEXT    NOT NULL CHECK (length(modality) BETWEEN 1 AND 16),
    body_part   TEXT    NOT NULL DEFAULT '' CHECK (length(body_part) <= 64),
    min_tier    TEXT    NOT NULL CHECK (min_tier IN ('tertiary', 'secondary', 'primary', 'village')),
    valid_days  INTEGER NOT NULL CHECK (valid_days BETWEEN 1 AND 3650),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (modality, body_part, min_tier)
);
