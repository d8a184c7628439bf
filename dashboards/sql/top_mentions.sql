-- Most mentioned accounts in the time range among the posts of the selected queries.
SELECT
  m.username AS account,
  COUNT(*) AS mentions
FROM post_mentions m
WHERE $__timeFilter(m.created_at)
  AND EXISTS (
    SELECT 1 FROM post_queries q
    WHERE q.post_id = m.post_id AND q.query_name IN ($query)
  )
GROUP BY m.username
ORDER BY mentions DESC, account
LIMIT 20
