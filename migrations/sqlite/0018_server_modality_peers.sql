-- A modality is more than its AE title, which any host on the network can
-- claim: it may be bound to the hosts it calls from (IP addresses and CIDR
-- blocks, comma-separated, normalised by the API; empty means any host, as
-- before), and to a number of associations it may hold at once (NULL: the
-- node's `dimse_max_associations_per_ae`).
ALTER TABLE modality ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '';
ALTER TABLE modality ADD COLUMN max_associations BIGINT CHECK (max_associations IS NULL OR max_associations >= 1);
