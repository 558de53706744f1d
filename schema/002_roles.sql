-- 002_roles.sql - privileges of the database roles (DESIGN.md section 3)
--
-- postern_admin owns the data (the admin command); postern_proxy
-- (proxyd) and postern_dovecot (Dovecot's passdb/userdb and
-- quota_clone) may read the lookup tables and write only the usage
-- mirror quota2. Roles are created by `postern init --embedded-db` (or
-- by the operator of an external database); a role that does not
-- exist is skipped, so the schema also loads into a bare database.

DO $$
DECLARE
	t text;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postern_admin') THEN
		IF current_user <> 'postern_admin' AND (SELECT rolsuper
		    FROM pg_roles WHERE rolname = current_user) THEN
			FOREACH t IN ARRAY ARRAY['domain', 'mailbox', 'alias',
			    'alias_domain', 'quota2', 'postern_schema'] LOOP
				EXECUTE format('ALTER TABLE %I OWNER TO postern_admin', t);
			END LOOP;
			ALTER FUNCTION postern_touch_modified() OWNER TO postern_admin;
		END IF;
		GRANT ALL ON domain, mailbox, alias, alias_domain, quota2,
		    postern_schema TO postern_admin;
	END IF;
	FOREACH t IN ARRAY ARRAY['postern_proxy', 'postern_dovecot'] LOOP
		IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = t) THEN
			EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', t);
			EXECUTE format('GRANT SELECT ON domain, mailbox, alias, '
			    'alias_domain, quota2 TO %I', t);
			EXECUTE format('GRANT INSERT, UPDATE ON quota2 TO %I', t);
		END IF;
	END LOOP;
END
$$;
