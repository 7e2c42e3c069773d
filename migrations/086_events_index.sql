-- events_by_repo (repo, hlc) has no reader left: every per-repository query goes through
-- events_by_path (repo, path, hlc), whose prefix covers it. One index less per applied event.
DROP INDEX IF EXISTS events_by_repo;
