-- Values of the dashboard's $query variable: every query that has collected posts.
SELECT DISTINCT query_name FROM posts_hourly ORDER BY query_name
