-- Several keys per purpose, each with its life cycle (`passerelle keys rotate|retire`): a key is
-- published in its JWKS from `created_at`, is the one that signs from `activates_at` until a later
-- generation's `activates_at` has come, and is unpublished at `retired_at`. Secrets keep one row,
-- generation 1. The table is rebuilt, since its primary key was the purpose alone.
CREATE TABLE key_versions (
    purpose TEXT NOT NULL,
    generation BIGINT NOT NULL,
    kid TEXT NOT NULL,
    material TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (purpose, generation),
    UNIQUE (purpose, kid)
);

INSERT INTO key_versions (purpose, generation, kid, material, created_at, activates_at, retired_at)
SELECT purpose, 1, kid, material, created_at, created_at, NULL FROM keys;

DROP TABLE keys;

ALTER TABLE key_versions RENAME TO keys;
