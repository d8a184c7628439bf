-- Most used hashtags (folded) in the time range, by distinct posts. Reads the hashtags_daily roll-up,
-- so the range is rounded to whole UTC days.
SELECT
  tag,
  SUM(posts) AS posts
FROM hashtags_daily
WHERE day BETWEEN DATE($__timeFrom()) AND DATE($__timeTo())
GROUP BY tag
ORDER BY posts DESC, tag
LIMIT 20
