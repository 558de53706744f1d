-- 001_tables.sql - the Postern data model (PostfixAdmin's names)
--
-- Applied by `postern db init|migrate` (and `postern init`) inside one
-- transaction, which also records the version in postern_schema.
-- Every size is in bytes, 0 meaning unlimited. Domains and addresses
-- are stored lowercase; the constraints refuse anything else, so an
-- exact comparison is a case-insensitive one for the lookups.

CREATE FUNCTION postern_touch_modified() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.modified := now();
	RETURN NEW;
END
$$;

CREATE TABLE domain (
	domain        varchar(255) PRIMARY KEY,
	description   text NOT NULL DEFAULT '',
	aliases       integer NOT NULL DEFAULT 0,   -- most aliases, 0 = unlimited
	mailboxes     integer NOT NULL DEFAULT 0,   -- most mailboxes, 0 = unlimited
	maxquota      bigint NOT NULL DEFAULT 0,    -- cap per mailbox (bytes)
	quota         bigint NOT NULL DEFAULT 0,    -- total of the mailboxes (bytes)
	mailbox_quota bigint NOT NULL DEFAULT 0,    -- default per mailbox (bytes)
	transport     varchar(255) NOT NULL DEFAULT 'virtual',
	backupmx      boolean NOT NULL DEFAULT false,
	created       timestamptz NOT NULL DEFAULT now(),
	modified      timestamptz NOT NULL DEFAULT now(),
	active        boolean NOT NULL DEFAULT true,
	CONSTRAINT domain_lowercase CHECK (domain = lower(domain)),
	CONSTRAINT domain_syntax CHECK (domain ~
	    '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'),
	CONSTRAINT domain_limits CHECK (aliases >= 0 AND mailboxes >= 0
	    AND maxquota >= 0 AND quota >= 0 AND mailbox_quota >= 0)
);

CREATE TABLE mailbox (
	username       varchar(255) PRIMARY KEY,
	password       text NOT NULL DEFAULT '',
	name           text NOT NULL DEFAULT '',
	maildir        varchar(255) NOT NULL,       -- relative to virtual_mailbox_base
	quota          bigint NOT NULL DEFAULT 0,   -- bytes, 0 = unlimited
	quota_messages bigint NOT NULL DEFAULT 0,   -- messages, 0 = unlimited
	local_part     varchar(255) NOT NULL,
	domain         varchar(255) NOT NULL
	    REFERENCES domain (domain) ON UPDATE CASCADE ON DELETE CASCADE,
	created        timestamptz NOT NULL DEFAULT now(),
	modified       timestamptz NOT NULL DEFAULT now(),
	active         boolean NOT NULL DEFAULT true,
	smtp_active    boolean NOT NULL DEFAULT true,
	CONSTRAINT mailbox_lowercase CHECK (username = lower(username)),
	CONSTRAINT mailbox_parts CHECK (username = local_part || '@' || domain
	    AND local_part <> '' AND strpos(local_part, '@') = 0),
	CONSTRAINT mailbox_maildir CHECK (maildir <> '' AND maildir !~ '^/'
	    AND maildir !~ '(^|/)\.\.?(/|$)'),
	CONSTRAINT mailbox_quota CHECK (quota >= 0 AND quota_messages >= 0)
);
CREATE INDEX mailbox_domain_idx ON mailbox (domain);

-- address -> goto (comma-separated targets); "@domain" is the catch-all.
CREATE TABLE alias (
	address     varchar(255) PRIMARY KEY,
	goto        text NOT NULL,
	domain      varchar(255) NOT NULL
	    REFERENCES domain (domain) ON UPDATE CASCADE ON DELETE CASCADE,
	description text NOT NULL DEFAULT '',
	created     timestamptz NOT NULL DEFAULT now(),
	modified    timestamptz NOT NULL DEFAULT now(),
	active      boolean NOT NULL DEFAULT true,
	CONSTRAINT alias_lowercase CHECK (address = lower(address)),
	CONSTRAINT alias_domain_part CHECK (right(address, length(domain) + 1)
	    = '@' || domain AND strpos(left(address, -length(domain) - 1),
	    '@') = 0),
	CONSTRAINT alias_goto CHECK (goto <> '')
);
CREATE INDEX alias_domain_idx ON alias (domain);

-- Mail for anything@alias_domain goes to anything@target_domain.
CREATE TABLE alias_domain (
	alias_domain  varchar(255) PRIMARY KEY
	    REFERENCES domain (domain) ON UPDATE CASCADE ON DELETE CASCADE,
	target_domain varchar(255) NOT NULL
	    REFERENCES domain (domain) ON UPDATE CASCADE ON DELETE CASCADE,
	description   text NOT NULL DEFAULT '',
	created       timestamptz NOT NULL DEFAULT now(),
	modified      timestamptz NOT NULL DEFAULT now(),
	active        boolean NOT NULL DEFAULT true,
	CONSTRAINT alias_domain_not_self CHECK (alias_domain <> target_domain)
);
CREATE INDEX alias_domain_target_idx ON alias_domain (target_domain);

-- Usage mirror: written by proxyd for the LDA, by Dovecot's quota_clone.
CREATE TABLE quota2 (
	username varchar(255) PRIMARY KEY,
	bytes    bigint NOT NULL DEFAULT 0,
	messages bigint NOT NULL DEFAULT 0
);

CREATE TRIGGER domain_modified BEFORE UPDATE ON domain
	FOR EACH ROW EXECUTE FUNCTION postern_touch_modified();
CREATE TRIGGER mailbox_modified BEFORE UPDATE ON mailbox
	FOR EACH ROW EXECUTE FUNCTION postern_touch_modified();
CREATE TRIGGER alias_modified BEFORE UPDATE ON alias
	FOR EACH ROW EXECUTE FUNCTION postern_touch_modified();
CREATE TRIGGER alias_domain_modified BEFORE UPDATE ON alias_domain
	FOR EACH ROW EXECUTE FUNCTION postern_touch_modified();
