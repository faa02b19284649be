-- loginas 1.1 -> 1.2
--
-- ALTER EXTENSION loginas UPDATE TO '1.2' runs this on a 1.1 install;
-- CREATE EXTENSION loginas (default_version 1.2) runs loginas--1.0.sql, then
-- loginas--1.0--1.1.sql, then this, so a fresh install and an upgraded one
-- are the same (test/t/030_upgrade.pl checks both paths).
--
-- What 1.2 changes: security fixes.
--   * tracking: no query loginas runs with raised rights evaluates code a
--     table owner can define (every column it reads or compares has a
--     built-in type; checked at track() and at every cache refill);
--   * tracking triggers fire ALWAYS (session_replication_role = replica does
--     not switch them off; logical-replication apply workers pass through);
--   * begin/redeem lock only the rows their decision rests on (no shop-wide lock);
--   * purging the log is a capability of its own (loginas_auditor), bounded by
--     a minimum retention;
--   * the durable refusal log: bounded per backend, workers that die on
--     SIGTERM and bound their work.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------------
-- 2. Settings
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 6. Action log: refusals (the durable refusal log's SQL side)
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 6 (cont). Purging the log
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 7. Policy: locks
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 8b. Sessions: assume
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 10. Write attribution
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 9. Privileges
------------------------------------------------------------------------------
