-- Extraction health: posts collected per minute by query, and how old they were when collected
-- (seconds from created_at to collected_at; a growing delay means the extractors fall behind).
-- Reads posts (query_name: the first query that matched a post).
SELECT
  TIMESTAMP(DATE_FORMAT(collected_at, '%Y-%m-%d %H:%i:00')) AS time,
  query_name AS metric,
  COUNT(*) AS posts,
  AVG(TIMESTAMPDIFF(SECOND, created_at, collected_at)) AS delay_seconds
FROM posts
WHERE $__timeFilter(collected_at)
  AND query_name IN ($query)
GROUP BY time, metric
ORDER BY time, metric
