DROP TABLE live_chunks;
DROP TABLE plugin_logs;
DROP TABLE nodes;
