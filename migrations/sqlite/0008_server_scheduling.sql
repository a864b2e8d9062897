-- Rosters, consultations, bookings, on-call shifts and opinions.

-- Recurring weekly availability of an expert, in the time zone of the
-- expert's facility. A window whose end is not after its start ends on the
-- next day. Slots are generated from these rules; they are not stored.
CREATE TABLE roster_rule (
    id                INTEGER PRIMARY KEY,
    expert_id         INTEGER NOT NULL REFERENCES app_user (id),
    weekday           INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time        TEXT    NOT NULL CHECK (length(start_time) = 5),
    end_time          TEXT    NOT NULL CHECK (length(end_time) = 5),
    slot_minutes      INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 480),
    buffer_minutes    INTEGER NOT NULL CHECK (buffer_minutes BETWEEN 0 AND 240),
    capacity          INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 50),
    service           TEXT    NOT NULL CHECK (service IN ('video', 'async_review')),
    valid_from        TEXT    NOT NULL,
    valid_to          TEXT,
    referral_priority INTEGER NOT NULL DEFAULT 0 CHECK (referral_priority IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX roster_rule_by_expert ON roster_rule (expert_id);

-- Leave removes the slots it overlaps; an extra session adds slots of its own.
CREATE TABLE roster_exception (
    id             INTEGER PRIMARY KEY,
    expert_id      INTEGER NOT NULL REFERENCES app_user (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('leave', 'extra')),
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER NOT NULL,
    slot_minutes   INTEGER CHECK (slot_minutes BETWEEN 5 AND 480),
    buffer_minutes INTEGER CHECK (buffer_minutes BETWEEN 0 AND 240),
    capacity       INTEGER CHECK (capacity BETWEEN 1 AND 50),
    service        TEXT    CHECK (service IN ('video', 'async_review')),
    reason         TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK ((kind = 'extra') = (slot_minutes IS NOT NULL AND buffer_minutes IS NOT NULL
                               AND capacity IS NOT NULL AND service IS NOT NULL))
);
CREATE INDEX roster_exception_by_expert ON roster_exception (expert_id, starts_at);

CREATE TABLE on_call_shift (
    id         INTEGER PRIMARY KEY,
    expert_id  INTEGER NOT NULL REFERENCES app_user (id),
    specialty  TEXT    NOT NULL CHECK (length(trim(specialty)) > 0),
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by INTEGER NOT NULL REFERENCES app_user (id),
    created_at INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX on_call_shift_by_time ON on_call_shift (specialty, ends_at);

CREATE TABLE consultation (
    id                     INTEGER PRIMARY KEY,
    patient_id             INTEGER NOT NULL REFERENCES patient (id),
    requested_by           INTEGER NOT NULL REFERENCES app_user (id),
    requesting_facility_id INTEGER NOT NULL REFERENCES facility (id),
    expert_id              INTEGER REFERENCES app_user (id),
    specialty              TEXT    NOT NULL CHECK (length(trim(specialty)) > 0),
    urgency                TEXT    NOT NULL CHECK (urgency IN ('routine', 'urgent', 'emergency')),
    service                TEXT    NOT NULL CHECK (service IN ('video', 'async_review')),
    reason                 TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    clinical_summary       TEXT    NOT NULL DEFAULT '',
    status                 TEXT    NOT NULL CHECK (status IN ('requested', 'scheduled', 'in_progress',
                                   'awaiting_opinion', 'completed', 'cancelled', 'declined')),
    status_reason          TEXT,
    accepted_at            INTEGER,
    escalated_at           INTEGER,
    started_at             INTEGER,
    completed_at           INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    -- Past `requested`, someone must own the case.
    CHECK (status IN ('requested', 'cancelled', 'declined') OR expert_id IS NOT NULL)
);
CREATE INDEX consultation_by_patient ON consultation (patient_id);
CREATE INDEX consultation_by_expert ON consultation (expert_id, status);
CREATE INDEX consultation_by_facility ON consultation (requesting_facility_id, status);
CREATE INDEX consultation_queue ON consultation (status, urgency, specialty);

CREATE TABLE consultation_study (
    consultation_id    INTEGER NOT NULL REFERENCES consultation (id) ON DELETE CASCADE,
    study_instance_uid TEXT    NOT NULL,
    PRIMARY KEY (consultation_id, study_instance_uid)
);

-- A time range an expert has given away. Bookings of the same slot share its
-- claim up to the slot's capacity; two claims of one expert never overlap, so
-- two bookings never overlap unless they are the same slot.
CREATE TABLE slot_claim (
    id        INTEGER PRIMARY KEY,
    expert_id INTEGER NOT NULL REFERENCES app_user (id),
    start_at  INTEGER NOT NULL,
    end_at    INTEGER NOT NULL,
    capacity  INTEGER NOT NULL CHECK (capacity >= 1),
    taken     INTEGER NOT NULL,
    CHECK (end_at > start_at),
    CHECK (taken BETWEEN 1 AND capacity),
    UNIQUE (expert_id, start_at)
);
-- SQLite has no exclusion constraints: this trigger refuses an overlapping
-- claim, and writers hold the database's write lock (BEGIN IMMEDIATE), so the
-- check and the insert cannot interleave with another writer's.
CREATE TRIGGER slot_claim_no_overlap BEFORE INSERT ON slot_claim
WHEN EXISTS (SELECT 1 FROM slot_claim c WHERE c.expert_id = NEW.expert_id
             AND c.start_at < NEW.end_at AND NEW.start_at < c.end_at)
BEGIN
    SELECT RAISE(ABORT, 'slot_claim_overlap');
END;
CREATE TRIGGER slot_claim_no_overlap_update BEFORE UPDATE OF expert_id, start_at, end_at ON slot_claim
WHEN EXISTS (SELECT 1 FROM slot_claim c WHERE c.expert_id = NEW.expert_id AND c.id <> NEW.id
             AND c.start_at < NEW.end_at AND NEW.start_at < c.end_at)
BEGIN
    SELECT RAISE(ABORT, 'slot_claim_overlap');
END;

CREATE TABLE booking (
    id              INTEGER PRIMARY KEY,
    expert_id       INTEGER NOT NULL REFERENCES app_user (id),
    -- Deferred: moving a booking gives its old claim back before it takes the
    -- new one, inside one transaction.
    claim_id        INTEGER REFERENCES slot_claim (id) DEFERRABLE INITIALLY DEFERRED,
    start_at        INTEGER NOT NULL,
    end_at          INTEGER NOT NULL,
    service         TEXT    NOT NULL CHECK (service IN ('video', 'async_review')),
    status          TEXT    NOT NULL CHECK (status IN ('held', 'booked', 'cancelled', 'declined',
                                                       'no_show', 'expired', 'completed')),
    hold_expires_at INTEGER,
    consultation_id INTEGER REFERENCES consultation (id),
    created_by      INTEGER NOT NULL REFERENCES app_user (id),
    facility_id     INTEGER NOT NULL REFERENCES facility (id),
    status_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (end_at > start_at),
    -- An active booking holds a claim; a finished one has given it back.
    CHECK ((status IN ('held', 'booked')) = (claim_id IS NOT NULL)),
    CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
    CHECK (status <> 'booked' OR consultation_id IS NOT NULL)
);
CREATE INDEX booking_by_expert ON booking (expert_id, start_at);
CREATE INDEX booking_by_claim ON booking (claim_id);
CREATE UNIQUE INDEX booking_one_active_per_consultation ON booking (consultation_id)
    WHERE status IN ('held', 'booked');

-- An expert's opinion on a consultation. A signed version is immutable (the
-- triggers below); an amendment is a new signed version.
CREATE TABLE opinion (
    id               INTEGER PRIMARY KEY,
    consultation_id  INTEGER NOT NULL REFERENCES consultation (id),
    version          INTEGER NOT NULL CHECK (version >= 1),
    author_id        INTEGER NOT NULL REFERENCES app_user (id),
    findings         TEXT    NOT NULL,
    diagnosis_codes  TEXT    NOT NULL,
    recommendation   TEXT    NOT NULL CHECK (recommendation IN ('treat_locally', 'refer_up', 'further_examination')),
    amendment_reason TEXT,
    signed_at        INTEGER,
    -- SHA-256 of the signed content: what exactly was signed.
    content_sha256   TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (consultation_id, version),
    CHECK (version = 1 OR amendment_reason IS NOT NULL),
    CHECK ((signed_at IS NULL) = (content_sha256 IS NULL))
);
CREATE UNIQUE INDEX opinion_one_draft ON opinion (consultation_id) WHERE signed_at IS NULL;
CREATE TRIGGER opinion_signed_is_immutable BEFORE UPDATE ON opinion
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'opinion_signed');
END;
CREATE TRIGGER opinion_signed_is_kept BEFORE DELETE ON opinion
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'opinion_signed');
END;

-- A booking made for a patient referred up: what lets it take slots held back
-- for referrals (priority booking).
CREATE TABLE booking_referral (
    booking_id  INTEGER PRIMARY KEY REFERENCES booking (id),
    referral_id INTEGER NOT NULL REFERENCES referral (id)
);
