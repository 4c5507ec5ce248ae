DROP TABLE mwi_subscriptions;
