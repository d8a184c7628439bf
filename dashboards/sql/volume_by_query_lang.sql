-- Posts per hour by query and language (time series). Reads the posts_hourly roll-up.
SELECT
  hour AS time,
  CONCAT(query_name, ' / ', lang) AS metric,
  SUM(posts) AS posts
FROM posts_hourly
WHERE $__timeFilter(hour)
  AND query_name IN ($query)
GROUP BY hour, query_name, lang
ORDER BY hour, metric
