-- Average sentiment (-1..1) and posts per topic in the time range (bar chart). Reads posts_hourly.
SELECT
  topic,
  SUM(posts) AS posts,
  SUM(sentiment_sum) / SUM(posts) AS sentiment
FROM posts_hourly
WHERE $__timeFilter(hour)
  AND query_name IN ($query)
GROUP BY topic
ORDER BY sentiment DESC, topic
