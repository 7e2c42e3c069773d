-- Each origin's events form a hash chain (store/replication-log.ts signingBytes): an event's
-- signature covers the chain value of the origin's previous event, so a receiver checks one
-- signature per batch. chain = sha256 of the event's signing bytes; computed by whoever verified
-- the event, never sent.
ALTER TABLE events ADD COLUMN chain BLOB;
