-- OCI / Docker index (formats/oci). The bytes live in artifacts of the repository:
--   _blobs/sha256/<hex>                   layers and configs, once per repository
--   <image>/_manifests/sha256/<hex>       manifests and indexes of an image
--   <image>/_tags/<tag>                   a tag: the bytes of the manifest it points at
-- These tables are the queryable index beside them, written in the same transaction.

-- Image names within a repository (the part of the OCI name after the repository key).
CREATE TABLE oci_images (
  repo       TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (repo, name)
) WITHOUT ROWID;

-- One row per manifest (image manifest or index) pushed to an image.
CREATE TABLE oci_manifests (
  repo          TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  digest        TEXT NOT NULL,
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,
  -- artifactType, else the config's mediaType (what the referrers API reports); NULL for indexes without one.
  artifact_type TEXT,
  -- Digest of the manifest's subject (OCI 1.1 referrers), if any.
  subject       TEXT,
  annotations   TEXT,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (repo, name, digest)
) WITHOUT ROWID;
CREATE INDEX oci_manifests_by_subject ON oci_manifests(repo, name, subject) WHERE subject IS NOT NULL;
CREATE INDEX oci_manifests_by_digest ON oci_manifests(repo, digest);

-- Tags move (last writer wins); digests never change.
CREATE TABLE oci_tags (
  repo       TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repo, name, tag)
) WITHOUT ROWID;
CREATE INDEX oci_tags_by_digest ON oci_tags(repo, name, digest);
