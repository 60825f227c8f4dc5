-- An application's own embeddings, for scenarios/existing-pgvector.toml: 50,000 product
-- descriptions as 384-d unit vectors (the size of all-MiniLM-L6-v2), in 200 topics: each
-- vector is its topic's direction plus noise as long as it, so neighbourhoods overlap as real
-- sentence embeddings do. Made here as the application would; tunebench only reads it.
-- Run: psql "$TUNEBENCH_PG_URL" -f examples/existing-postgres/embeddings.sql  (about 1 minute)
CREATE EXTENSION IF NOT EXISTS vector;
DROP SCHEMA IF EXISTS catalog_example CASCADE;
CREATE SCHEMA catalog_example;
SELECT setseed(0.16);
CREATE TEMP TABLE topic AS
  SELECT t, ARRAY(SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
                  FROM generate_series(1, 384) WHERE t >= 0) AS dir
  FROM generate_series(0, 199) t;
CREATE TABLE catalog_example.products (
  product_id bigint PRIMARY KEY,
  lang text NOT NULL,
  embedding vector(384) NOT NULL
);
-- normalize(topic/|topic| + noise/|noise|), noise standard normal per component.
INSERT INTO catalog_example.products
SELECT 500000 + 3 * g, (ARRAY['en', 'de', 'fr'])[1 + g % 3], l2_normalize(
         l2_normalize(topic.dir::vector)
         + l2_normalize(ARRAY(SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
                              FROM generate_series(1, 384) WHERE g > 0)::vector))
FROM generate_series(1, 50000) g JOIN topic ON topic.t = g % 200;
ANALYZE catalog_example.products;
