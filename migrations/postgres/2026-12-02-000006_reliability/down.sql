DROP TABLE claims;
DROP TABLE upload_keys;
DROP TABLE recordings;
