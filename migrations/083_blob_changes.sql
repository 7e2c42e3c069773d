-- Content location (mesh/content): a feed of the blobs whose holding changed, so the node can
-- announce new blobs to the mesh (DHT provider records, have-summaries) and withdraw deleted
-- ones, whatever wrote the change: an upload, replication, fsck, gc, or an `ak` command run in
-- another process. Triggers only record WHICH digest changed; the reader looks up whether the
-- node now holds it (a blobs row without a remote_blobs row), so trigger order never matters.
CREATE TABLE blob_changes (
  seq    INTEGER PRIMARY KEY AUTOINCREMENT,
  sha256 TEXT NOT NULL
);

CREATE TRIGGER blob_changes_blob_added AFTER INSERT ON blobs
BEGIN
  INSERT INTO blob_changes (sha256) VALUES (NEW.sha256);
END;

CREATE TRIGGER blob_changes_blob_deleted AFTER DELETE ON blobs
BEGIN
  INSERT INTO blob_changes (sha256) VALUES (OLD.sha256);
END;

-- A replicated blob row whose bytes are not here yet (not held), and its bytes arriving (held).
CREATE TRIGGER blob_changes_remote_added AFTER INSERT ON remote_blobs
BEGIN
  INSERT INTO blob_changes (sha256) VALUES (NEW.sha256);
END;

CREATE TRIGGER blob_changes_remote_deleted AFTER DELETE ON remote_blobs
BEGIN
  INSERT INTO blob_changes (sha256) VALUES (OLD.sha256);
END;

-- Bounded when nobody reads it (mesh off): every 1024th change drops what is 64k changes old.
-- A reader that finds a gap in the sequence rescans all blobs instead.
CREATE TRIGGER blob_changes_bound AFTER INSERT ON blob_changes WHEN NEW.seq % 1024 = 0
BEGIN
  DELETE FROM blob_changes WHERE seq <= NEW.seq - 65536;
END;
