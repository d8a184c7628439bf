-- Originals, retweets, replies and quotes per hour (stacked time series). Reads posts_hourly.
SELECT
  hour AS time,
  SUM(originals) AS originals,
  SUM(retweets) AS retweets,
  SUM(replies) AS replies,
  SUM(quotes) AS quotes
FROM posts_hourly
WHERE $__timeFilter(hour)
  AND query_name IN ($query)
GROUP BY hour
ORDER BY hour
