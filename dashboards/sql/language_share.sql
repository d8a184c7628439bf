-- Share of posts per language in the time range (pie chart). Reads the posts_hourly roll-up.
SELECT
  lang AS language,
  SUM(posts) AS posts
FROM posts_hourly
WHERE $__timeFilter(hour)
  AND query_name IN ($query)
GROUP BY lang
ORDER BY posts DESC, language
