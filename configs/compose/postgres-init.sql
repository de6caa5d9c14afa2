-- The example tenant's existing users table (docker-compose.yml). Columns
-- scimbridge does not map (plan, created_at) are left as they are.
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.users (
    id            bigserial PRIMARY KEY,
    login         text NOT NULL,
    first_name    text,
    last_name     text,
    display_name  text,
    email         text,
    okta_id       text,
    department    text,
    is_active     boolean NOT NULL DEFAULT true,
    password_hash text,
    plan          text NOT NULL DEFAULT 'free',
    created_at    timestamptz NOT NULL DEFAULT now()
);
