-- Average sentiment (-1..1) per hour and query (time series). Reads the posts_hourly roll-up.
SELECT
  hour AS time,
  query_name AS metric,
  SUM(sentiment_sum) / SUM(posts) AS sentiment
FROM posts_hourly
WHERE $__timeFilter(hour)
  AND query_name IN ($query)
GROUP BY hour, query_name
ORDER BY hour, metric
