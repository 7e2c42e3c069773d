-- Replication (mesh/sync): what applying other nodes' events needs beside the events table.

-- Every event of one artifact path, quickly: applying a remote event recomputes the path's
-- winner (conflicts, tombstones) from all events held for it.
CREATE INDEX events_by_path ON events(repo, path, hlc_ms, hlc_counter);

-- Blobs whose metadata arrived with a replicated event but whose bytes are not on this node
-- yet (the swarm fetches them later). A blob row listed here has no object in the blob store.
CREATE TABLE remote_blobs (
  sha256      TEXT PRIMARY KEY REFERENCES blobs(sha256) ON DELETE CASCADE,
  origin      TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The losers of immutable-path conflicts: the same path published with different bytes on two
-- nodes. Every node picks the same winner (lowest HLC, then origin peer ID) and keeps the rest here.
CREATE TABLE replication_conflicts (
  repo               TEXT NOT NULL,
  path               TEXT NOT NULL,
  loser_origin       TEXT NOT NULL,
  loser_seq          INTEGER NOT NULL,
  loser_sha256       TEXT NOT NULL,
  loser_hlc_ms       INTEGER NOT NULL,
  loser_hlc_counter  INTEGER NOT NULL,
  winner_origin      TEXT NOT NULL,
  winner_seq         INTEGER NOT NULL,
  winner_sha256      TEXT NOT NULL,
  detected_at        INTEGER NOT NULL,
  PRIMARY KEY (repo, path, loser_origin, loser_seq)
) WITHOUT ROWID;
