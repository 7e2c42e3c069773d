-- Peer profiles (mesh/profiles): what this node measured of each mesh peer, kept across restarts
-- so the swarm has estimates before the first ping or transfer of a new process. Written on a
-- debounce, never per sample. Throughput is kept per transport kind (libp2p stream, HTTP port).
CREATE TABLE peer_profiles (
  peer_id            TEXT PRIMARY KEY,
  -- Multiaddrs the peer was last connected on (JSON array of strings).
  addresses          TEXT NOT NULL DEFAULT '[]',
  -- Labels the peer advertised (JSON object, e.g. {"region":"eu"}).
  labels             TEXT NOT NULL DEFAULT '{}',
  -- Ping round-trip time: EWMA and EWMA of the deviation, in ms; NULL until the first sample.
  rtt_ms             REAL,
  jitter_ms          REAL,
  rtt_samples        INTEGER NOT NULL DEFAULT 0,
  -- EWMA of bytes per second of transfers (and probes) per kind; NULL until the first sample.
  libp2p_bps         REAL,
  libp2p_samples     INTEGER NOT NULL DEFAULT 0,
  http_bps           REAL,
  http_samples       INTEGER NOT NULL DEFAULT 0,
  -- Failure counts by reason (JSON object: corrupt, timeout, refused, gone, error).
  failures           TEXT NOT NULL DEFAULT '{}',
  -- Unix ms: last ping answer, connection or transfer; last write of this row.
  last_seen          INTEGER,
  updated_at         INTEGER NOT NULL
) WITHOUT ROWID;
