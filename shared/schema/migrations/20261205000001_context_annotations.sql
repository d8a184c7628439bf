-- tweetpipe schema v2: the post's context annotations and cashtags (Avro post.v2).
--
-- Same rules as v1: MySQL 8 and MariaDB 10.6+ alike, `IF NOT EXISTS` so a half-applied run can
-- be completed. Posts stored before this version have no rows here (their records carried none).

-- X's context_annotations: the domain (topic category, e.g. 123 "Ongoing News Story") and the
-- entity within it (e.g. 1220701888179359745 "COVID-19"); what `context:<domain>.<entity>` and
-- `entity:"<name>"` match on. One row per (post, domain, entity).
CREATE TABLE IF NOT EXISTS post_context_annotations (
    post_id      BIGINT UNSIGNED NOT NULL,
    domain_id    BIGINT UNSIGNED NOT NULL,
    entity_id    BIGINT UNSIGNED NOT NULL,
    domain_name  VARCHAR(255)    NOT NULL,
    entity_name  VARCHAR(255)    NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    PRIMARY KEY (post_id, domain_id, entity_id),
    KEY post_context_domain_entity_time (domain_id, entity_id, created_at),
    KEY post_context_entity_time (entity_id, created_at),
    KEY post_context_time (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- entities.cashtags, as post_hashtags: `tag` folded (NFKC, lower case, no `$`), `display` as
-- first written.
CREATE TABLE IF NOT EXISTS post_cashtags (
    post_id     BIGINT UNSIGNED NOT NULL,
    tag         VARCHAR(280)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    display     VARCHAR(280)    NOT NULL,
    created_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (post_id, tag),
    KEY post_cashtags_tag_time (tag, created_at),
    KEY post_cashtags_time (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
