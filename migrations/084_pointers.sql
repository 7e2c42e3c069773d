-- Mutable pointers (store/pointers.ts): small named values of a repository that the last
-- writer sets, by hybrid logical clock, on every node: npm dist-tags and deprecations, for now.
-- Each row is the winner of every pointer.set / pointer.delete event held for (repo, name); a
-- removed pointer stays as a tombstone (value NULL) so that an older set arriving later loses.
CREATE TABLE pointers (
  repo        TEXT NOT NULL REFERENCES repositories(key) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  -- JSON text of the value; NULL for a tombstone.
  value       TEXT,
  hlc_ms      INTEGER NOT NULL,
  hlc_counter INTEGER NOT NULL,
  origin      TEXT NOT NULL,
  PRIMARY KEY (repo, name)
) WITHOUT ROWID;

-- npm dist-tags and deprecations were rows only before they became pointers: carry them over,
-- stamped older than any event (HLC 0, no origin), so the first replicated change wins over them.
INSERT OR IGNORE INTO pointers (repo, name, value, hlc_ms, hlc_counter, origin)
  SELECT repo, 'dist-tag/' || name || '/' || tag, json_quote(version), 0, 0, '' FROM npm_dist_tags;
INSERT OR IGNORE INTO pointers (repo, name, value, hlc_ms, hlc_counter, origin)
  SELECT repo, 'deprecated/' || name || '/' || version, json_quote(deprecated), 0, 0, '' FROM npm_versions WHERE deprecated IS NOT NULL;
