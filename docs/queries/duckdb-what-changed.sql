-- duckdb: what changed — each row the platform restated, first and latest version side by side
SELECT dt, row_key, max_by(campaign_name, extracted_at) AS campaign,
       min(extracted_at) AS first_extracted_at, max(extracted_at) AS latest_extracted_at,
       min_by(clicks, extracted_at) AS first_clicks, max_by(clicks, extracted_at) AS latest_clicks,
       min_by(cost_micros, extracted_at) / 1e6 AS first_spend,
       max_by(cost_micros, extracted_at) / 1e6 AS latest_spend,
       min_by(conversions, extracted_at) AS first_conversions,
       max_by(conversions, extracted_at) AS latest_conversions
FROM read_parquet('.demo/lake/ad_metrics_history/*/*/*/*.parquet', hive_partitioning = true)
WHERE tenant_id = 'demo'
GROUP BY dt, row_key
HAVING min_by(impressions, extracted_at) IS DISTINCT FROM max_by(impressions, extracted_at)
    OR min_by(clicks, extracted_at) IS DISTINCT FROM max_by(clicks, extracted_at)
    OR min_by(cost_micros, extracted_at) IS DISTINCT FROM max_by(cost_micros, extracted_at)
    OR min_by(conversions, extracted_at) IS DISTINCT FROM max_by(conversions, extracted_at)
    OR min_by(conversion_value, extracted_at) IS DISTINCT FROM max_by(conversion_value, extracted_at)
    OR min_by(video_views, extracted_at) IS DISTINCT FROM max_by(video_views, extracted_at)
ORDER BY dt, row_key;
