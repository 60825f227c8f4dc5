-- The "application's" database for scenarios/existing-postgres.toml: a schema tunebench did
-- not create (as your own would be), which the scenario only reads. Load it once with
--   psql "$TUNEBENCH_PG_URL" -f examples/existing-postgres/shop.sql
-- (scripts/stack env postgres prints TUNEBENCH_PG_URL and TUNEBENCH_PG_BIN, psql's folder).
-- 20,000 customers, 200,000 orders with a foreign key, deterministic values, ~25 MB.
-- Running it again drops and recreates the shop_example schema (and only that schema).
DROP SCHEMA IF EXISTS shop_example CASCADE;
CREATE SCHEMA shop_example;

CREATE TABLE shop_example.customers (
    id         bigint PRIMARY KEY,
    region     text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE shop_example.orders (
    id          bigint PRIMARY KEY,
    customer_id bigint        NOT NULL REFERENCES shop_example.customers (id),
    status      text          NOT NULL,
    total       numeric(10,2) NOT NULL,
    created_at  timestamptz   NOT NULL
);

INSERT INTO shop_example.customers
SELECT g,
       (ARRAY['eu', 'us', 'apac'])[1 + g % 3],
       timestamptz '2025-01-01 00:00:00+00' + g * interval '17 minutes'
FROM generate_series(1, 20000) g;

INSERT INTO shop_example.orders
SELECT g,
       1 + (g::bigint * 7919) % 20000,
       (ARRAY['open', 'paid', 'shipped', 'cancelled'])[1 + (g * 31) % 4],
       round((5 + (g * 37) % 500)::numeric + (g % 100) / 100.0, 2),
       timestamptz '2025-06-01 00:00:00+00' + ((g::bigint * 104729) % 525600) * interval '1 minute'
FROM generate_series(1, 200000) g;

-- No index on orders.customer_id: the index the scenario's profile builds (and drops) is the
-- tuning being measured.
ANALYZE shop_example.customers;
ANALYZE shop_example.orders;
