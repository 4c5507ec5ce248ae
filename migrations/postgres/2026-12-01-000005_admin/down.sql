ALTER TABLE delivery_profiles DROP COLUMN attach_audio;
DROP TABLE live_chunks;
DROP TABLE plugin_logs;
DROP TABLE nodes;
