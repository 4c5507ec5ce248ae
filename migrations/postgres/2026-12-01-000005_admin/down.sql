DROP TABLE plugin_logs;
DROP TABLE nodes;
