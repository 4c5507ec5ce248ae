DROP TABLE registrations;
DROP INDEX devices_sip_username;
ALTER TABLE devices DROP COLUMN sip_failures;
ALTER TABLE devices DROP COLUMN mwi_unsolicited;
ALTER TABLE devices DROP COLUMN trusted;
ALTER TABLE devices DROP COLUMN sip_ha1_sha256;
ALTER TABLE devices DROP COLUMN sip_ha1_md5;
ALTER TABLE devices DROP COLUMN sip_realm;
ALTER TABLE devices DROP COLUMN sip_username;
