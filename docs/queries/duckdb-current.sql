-- duckdb: the current numbers of the last week, per day and campaign (one version of each row: no window function)
SELECT dt, platform, campaign_name, sum(cost_micros) / 1e6 AS spend, sum(clicks) AS clicks,
       sum(conversions) AS conversions
FROM read_parquet('.demo/lake/ad_metrics/*/*/*/*.parquet', hive_partitioning = true)
WHERE tenant_id = 'demo' AND level = 'campaign' AND dt >= current_date - INTERVAL 7 DAY
GROUP BY ALL
ORDER BY ALL;
