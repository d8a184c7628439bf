-- tweetpipe schema v1: posts, their authors and entities, and the roll-ups dashboards read.
--
-- Written for MySQL 8 and MariaDB 10.6+ alike (no MariaDB- or MySQL-only syntax).
-- `IF NOT EXISTS` everywhere so that a database prepared by hand, or a half-applied run
-- (MySQL DDL is not transactional), can still be brought to this version.
--
-- `load_id` marks the transaction (batch) that first inserted a row. Upserts never change it,
-- so "rows whose load_id is this batch's" are exactly the rows this batch created: the roll-ups
-- are incremented from those rows only, and a batch delivered twice counts once.
--
-- Times are UTC. Ids are X's decimal ids, which fit in 64 unsigned bits.

CREATE TABLE IF NOT EXISTS users (
    id               BIGINT UNSIGNED NOT NULL,
    username         VARCHAR(64)     NOT NULL,
    name             VARCHAR(255)    NOT NULL,
    verified         BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at       DATETIME(3)     NULL,
    location         VARCHAR(255)    NULL,
    followers_count  BIGINT UNSIGNED NULL,
    following_count  BIGINT UNSIGNED NULL,
    tweet_count      BIGINT UNSIGNED NULL,
    -- collected_at of the newest post that carried this profile; older copies never overwrite it
    observed_at      DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS posts (
    id                   BIGINT UNSIGNED NOT NULL,
    author_id            BIGINT UNSIGNED NOT NULL,
    created_at           DATETIME(3)     NOT NULL,
    -- BCP 47 tag from X, lower-cased; 'und' when X gave none
    lang                 VARCHAR(16)     NOT NULL,
    kind                 ENUM('original', 'retweet', 'reply', 'quote') NOT NULL,
    -- normalised: entities decoded, whitespace collapsed, t.co links expanded
    text                 TEXT            NOT NULL,
    -- lexicon score in [-1, 1]
    sentiment            FLOAT           NOT NULL,
    -- query (and its topic) of the record that first brought the post; all matches are in post_queries
    query_name           VARCHAR(128)    NOT NULL,
    topic                VARCHAR(128)    NOT NULL,
    pipeline             VARCHAR(253)    NOT NULL,
    conversation_id      BIGINT UNSIGNED NULL,
    in_reply_to_user_id  BIGINT UNSIGNED NULL,
    retweet_count        BIGINT UNSIGNED NULL,
    reply_count          BIGINT UNSIGNED NULL,
    like_count           BIGINT UNSIGNED NULL,
    quote_count          BIGINT UNSIGNED NULL,
    impression_count     BIGINT UNSIGNED NULL,
    place_id             VARCHAR(64)     NULL,
    place_name           VARCHAR(255)    NULL,
    country_code         CHAR(2)         NULL,
    possibly_sensitive   BOOLEAN         NULL,
    collected_at         DATETIME(3)     NOT NULL,
    load_id              BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    KEY posts_created_at (created_at),
    KEY posts_author (author_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Which pipeline queries matched each post (a post can match several).
CREATE TABLE IF NOT EXISTS post_queries (
    post_id     BIGINT UNSIGNED NOT NULL,
    query_name  VARCHAR(128)    NOT NULL,
    topic       VARCHAR(128)    NOT NULL,
    -- copied from the post so dashboards filter by query and time without a join
    created_at  DATETIME(3)     NOT NULL,
    lang        VARCHAR(16)     NOT NULL,
    load_id     BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (post_id, query_name),
    KEY post_queries_query_time (query_name, created_at),
    KEY post_queries_topic_time (topic, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS post_hashtags (
    post_id     BIGINT UNSIGNED NOT NULL,
    -- folded (NFKC, lower case): the aggregation key
    tag         VARCHAR(280)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    -- as first written in the post
    display     VARCHAR(280)    NOT NULL,
    created_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (post_id, tag),
    KEY post_hashtags_tag_time (tag, created_at),
    KEY post_hashtags_time (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS post_mentions (
    post_id     BIGINT UNSIGNED NOT NULL,
    -- lower case: X user names are case-insensitive
    username    VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    user_id     BIGINT UNSIGNED NULL,
    created_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (post_id, username),
    KEY post_mentions_username_time (username, created_at),
    KEY post_mentions_time (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS post_urls (
    post_id       BIGINT UNSIGNED NOT NULL,
    position      SMALLINT UNSIGNED NOT NULL,
    url           VARCHAR(255)    NOT NULL,
    expanded_url  VARCHAR(2048)   NULL,
    display_url   VARCHAR(255)    NULL,
    -- host of the expanded URL, lower case, without a leading "www."
    domain        VARCHAR(255)    NULL,
    created_at    DATETIME(3)     NOT NULL,
    PRIMARY KEY (post_id, position),
    KEY post_urls_domain_time (domain, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS post_references (
    post_id               BIGINT UNSIGNED NOT NULL,
    kind                  ENUM('retweeted', 'quoted', 'replied_to', 'unknown') NOT NULL,
    referenced_id         BIGINT UNSIGNED NOT NULL,
    referenced_author_id  BIGINT UNSIGNED NULL,
    PRIMARY KEY (post_id, kind, referenced_id),
    KEY post_references_referenced (referenced_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Roll-up: posts per hour (of created_at) x query x language. One row counts each (post, query) match once.
CREATE TABLE IF NOT EXISTS posts_hourly (
    hour           DATETIME        NOT NULL,
    query_name     VARCHAR(128)    NOT NULL,
    lang           VARCHAR(16)     NOT NULL,
    topic          VARCHAR(128)    NOT NULL,
    posts          BIGINT UNSIGNED NOT NULL DEFAULT 0,
    originals      BIGINT UNSIGNED NOT NULL DEFAULT 0,
    retweets       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    replies        BIGINT UNSIGNED NOT NULL DEFAULT 0,
    quotes         BIGINT UNSIGNED NOT NULL DEFAULT 0,
    -- sum of post sentiment; average = sentiment_sum / posts
    sentiment_sum  DOUBLE          NOT NULL DEFAULT 0,
    -- sentiment > 0.05 and < -0.05
    positive       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    negative       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, query_name, lang),
    KEY posts_hourly_query (query_name, hour),
    KEY posts_hourly_topic (topic, hour)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Roll-up: distinct posts per day (of created_at) x folded hashtag.
CREATE TABLE IF NOT EXISTS hashtags_daily (
    day    DATE            NOT NULL,
    tag    VARCHAR(280)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    posts  BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tag),
    KEY hashtags_daily_tag (tag, day)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
