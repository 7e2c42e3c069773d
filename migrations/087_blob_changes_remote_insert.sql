-- A remote_blobs row is only ever inserted for a blob row created in the same transaction (the
-- replication applier records a blob it does not hold), whose blob_changes_blob_added entry already
-- names the digest: the reader decides holding from the final state. One write less per replicated
-- artifact. Deleting a remote_blobs row (the bytes arrived) still records the change.
DROP TRIGGER IF EXISTS blob_changes_remote_added;
