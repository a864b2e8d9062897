-- A national identifier given at registration that another patient already
-- holds under another birth date. The registration becomes a patient of its
-- own, never merged into the other, and keeps the identifier here (not
-- unique) until someone resolves who is who. The registering facility is
-- answered exactly as for an identifier nobody holds, so that registering
-- does not tell whether an identifier is known to the consortium.
ALTER TABLE patient ADD COLUMN unverified_national_id TEXT;
