-- Which replica holds a job's lease, so a replica restarted after a crash frees its own
-- leases at once and leaves other replicas' to lapse.
ALTER TABLE jobs ADD COLUMN locked_by TEXT;
