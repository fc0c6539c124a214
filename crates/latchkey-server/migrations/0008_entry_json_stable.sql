-- 0004 declared `ledger_entry_json` IMMUTABLE, but turning a timestamptz into JSON writes it in
-- the session's TimeZone (`2026-01-01T01:00:00+01:00` under Europe/Paris), so the same entry
-- gives different text in different sessions: that is STABLE. An IMMUTABLE label lets the
-- planner fold calls into constants and would make an index or generated column over it
-- silently wrong after a time-zone change. Nothing indexes it today; the label is fixed before
-- anything does. (The instant itself never changes, and the server parses it with its offset.)
-- Forward-only: never edit this file once shipped.

ALTER FUNCTION ledger_entry_json(entries) STABLE;
