-- npm format index: the packages, versions and dist-tags of npm repositories, written in the
-- same transaction as the tarball artifacts. Packuments are generated from these rows.

-- One row per package that has at least one version in a repository. rev grows with every
-- change (publish, deprecate, dist-tag, unpublish): it is the packument's _rev and ETag.
CREATE TABLE npm_packages (
  repo        TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  rev         INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  modified_at INTEGER NOT NULL,
  PRIMARY KEY (repo, name)
) WITHOUT ROWID;

-- One row per published version. manifest and abbreviated are JSON object texts without
-- "dist" and "deprecated": those are spliced in when a packument is generated, so a packument
-- is assembled from stored text without parsing every version.
CREATE TABLE npm_versions (
  repo         TEXT NOT NULL,
  name         TEXT NOT NULL,
  version      TEXT NOT NULL,
  manifest     TEXT NOT NULL,
  abbreviated  TEXT NOT NULL,
  deprecated   TEXT,
  path         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  shasum       TEXT NOT NULL,
  integrity    TEXT NOT NULL,
  size         INTEGER NOT NULL,
  published_by TEXT,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (repo, name, version),
  FOREIGN KEY (repo, name) REFERENCES npm_packages(repo, name) ON DELETE CASCADE
) WITHOUT ROWID;

-- Mutable pointers tag → version; removing a version removes the tags on it.
CREATE TABLE npm_dist_tags (
  repo    TEXT NOT NULL,
  name    TEXT NOT NULL,
  tag     TEXT NOT NULL,
  version TEXT NOT NULL,
  PRIMARY KEY (repo, name, tag),
  FOREIGN KEY (repo, name, version) REFERENCES npm_versions(repo, name, version) ON DELETE CASCADE
) WITHOUT ROWID;
