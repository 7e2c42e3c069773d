-- Foundation schema: blobs, repositories, artifacts, the replication log, users, groups,
-- permissions and API tokens. Times are Unix milliseconds.

CREATE TABLE node_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per blob the metadata knows. A blob file without a row is garbage (gc removes it);
-- a row is written in the same transaction as the first artifact that points at it.
CREATE TABLE blobs (
  sha256         TEXT PRIMARY KEY,
  size           INTEGER NOT NULL,
  sha1           TEXT NOT NULL,
  md5            TEXT NOT NULL,
  sha512         TEXT NOT NULL,
  chunk_size     INTEGER NOT NULL,
  chunk_manifest BLOB NOT NULL,
  created_at     INTEGER NOT NULL,
  touched_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE repositories (
  key         TEXT PRIMARY KEY,
  format      TEXT NOT NULL,
  type        TEXT NOT NULL CHECK (type IN ('local', 'remote', 'virtual')),
  description TEXT NOT NULL DEFAULT '',
  public      INTEGER NOT NULL DEFAULT 0,
  settings    TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE artifacts (
  repo         TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  path         TEXT NOT NULL,
  dir          TEXT NOT NULL,
  sha256       TEXT NOT NULL REFERENCES blobs(sha256),
  size         INTEGER NOT NULL,
  content_type TEXT,
  properties   TEXT NOT NULL DEFAULT '{}',
  created_by   TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (repo, path)
) WITHOUT ROWID;
CREATE INDEX artifacts_by_dir ON artifacts(repo, dir);
CREATE INDEX artifacts_by_blob ON artifacts(sha256);

-- The replication log: one row per change, appended in the change's own transaction.
CREATE TABLE events (
  origin      TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  hlc_ms      INTEGER NOT NULL,
  hlc_counter INTEGER NOT NULL,
  repo        TEXT NOT NULL,
  kind        TEXT NOT NULL,
  path        TEXT,
  sha256      TEXT,
  payload     TEXT NOT NULL,
  signature   BLOB,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (origin, seq)
) WITHOUT ROWID;
CREATE INDEX events_by_repo ON events(repo, hlc_ms, hlc_counter);

CREATE TABLE users (
  name          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  email         TEXT,
  admin         INTEGER NOT NULL DEFAULT 0,
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE groups (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
  group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
  user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  PRIMARY KEY (group_name, user_name)
) WITHOUT ROWID;

-- repo is a repository key or '*' for every repository.
CREATE TABLE permissions (
  repo           TEXT NOT NULL,
  principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'group')),
  principal      TEXT NOT NULL,
  actions        TEXT NOT NULL,
  PRIMARY KEY (repo, principal_type, principal)
) WITHOUT ROWID;

CREATE TABLE tokens (
  id           TEXT PRIMARY KEY,
  user_name    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  name         TEXT NOT NULL DEFAULT '',
  secret_hash  TEXT NOT NULL,
  repos        TEXT NOT NULL,
  access       TEXT NOT NULL CHECK (access IN ('read', 'write', 'admin')),
  expires_at   INTEGER,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER
) WITHOUT ROWID;
CREATE INDEX tokens_by_user ON tokens(user_name);
