-- loginas 1.0 -> 1.1
--
-- ALTER EXTENSION loginas UPDATE TO '1.1' runs this on a 1.0 install;
-- CREATE EXTENSION loginas (default_version 1.1) runs loginas--1.0.sql and
-- then this, so a fresh install and an upgraded one are the same
-- (test/t/030_upgrade.pl checks both paths, with data made under 1.0).
--
-- What 1.1 changes: speed, not behaviour.  Every function keeps its
-- signature, privileges and results.
--   * the reports' per-row text in C (src/report.c), the same text
--     character for character;
--   * the log append and the log writer in C (src/logappend.c:
--     loginas._append, loginas._log), the same rows and hashes.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------------
-- 11. Reports: the per-row text in C (src/report.c)
------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION loginas._action_label(p_action text, p_details jsonb)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_action_label';

CREATE OR REPLACE FUNCTION loginas._keys_text(p_keys jsonb, p_max int DEFAULT NULL)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_keys_text';

CREATE OR REPLACE FUNCTION loginas._action_details(p_action text, p_details jsonb, p_with_table boolean DEFAULT true)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_action_details';

CREATE OR REPLACE FUNCTION loginas._row_summary(p_action text, p_customer_id bigint, p_customer_email text,
									 p_store_id bigint, p_session_id bigint, p_source text, p_reason text,
									 p_details jsonb)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_row_summary';

------------------------------------------------------------------------------
-- 6. Action log: the append in C (src/logappend.c); the same rows and
--    hashes (loginas._log_content stays: verify_log() recomputes with it)
------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION loginas._append(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append';

-- the log writer of loginas' own steps, in C too (src/logappend.c): the
-- username and e-mail read from the bound relations, a session's source,
-- reason and storefront address filled in, then the append
CREATE OR REPLACE FUNCTION loginas._log(p_action text, p_result text, p_admin_id bigint, p_customer_id bigint,
							 p_session_id bigint DEFAULT NULL, p_store_id bigint DEFAULT NULL,
							 p_source text DEFAULT NULL, p_reason text DEFAULT NULL,
							 p_details jsonb DEFAULT '{}', p_client_addr inet DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log';
