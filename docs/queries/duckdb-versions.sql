-- duckdb: the versions of the restated rows — every one in the history, the newest alone in the current table
WITH restated AS (
  SELECT row_key FROM read_parquet('.demo/lake/ad_metrics_history/*/*/*/*.parquet', hive_partitioning = true)
  WHERE tenant_id = 'demo' GROUP BY row_key HAVING count(DISTINCT conversions) > 1
)
SELECT 'ad_metrics_history' AS "table", dt, campaign_name, extracted_at, conversions
FROM read_parquet('.demo/lake/ad_metrics_history/*/*/*/*.parquet', hive_partitioning = true)
WHERE tenant_id = 'demo' AND row_key IN (SELECT row_key FROM restated)
UNION ALL
SELECT 'ad_metrics', dt, campaign_name, extracted_at, conversions
FROM read_parquet('.demo/lake/ad_metrics/*/*/*/*.parquet', hive_partitioning = true)
WHERE tenant_id = 'demo' AND row_key IN (SELECT row_key FROM restated)
ORDER BY 1 DESC, extracted_at;
