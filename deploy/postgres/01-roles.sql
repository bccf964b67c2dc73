-- kommunmobil: database, per-service roles and schemas.
--
-- Run once by the postgres image's entrypoint (docker-entrypoint-initdb.d) on an empty data
-- directory, as the superuser, through psql (16 or newer: \getenv is used). It can also be run by
-- hand: `psql -v ON_ERROR_STOP=1 -U postgres -f 01-roles.sql` with the KM_*_DB_PASSWORD variables
-- exported.
--
-- The isolation model: each service logs in as its own role and that role OWNS exactly one schema
-- (km_orders -> orders, km_inventory -> inventory, km_lifecycle -> lifecycle). Ownership is all a
-- service needs: its migrations run as that role, create their tables in its schema (including
-- the alembic_version table, kept in the same schema), and it reads and writes them at run time.
-- No role gets any privilege on another service's schema, and the public schema is closed, so a
-- service cannot read or write another's tables even through a bug or an injected query; the only
-- way services share data is through integration events on the broker.
--
-- km_auditor is the one exception: a read-only login used for the public-access-principle
-- (offentlighetsprincipen) reports. It may read every schema but never write.

\set ON_ERROR_STOP on

-- Passwords come from the environment of the postgres container (see deploy/compose.yaml).
-- "change-me" is only a placeholder for an unset variable: the operator MUST set real values
-- before the first start (see deploy/README.md); later changes need ALTER ROLE ... PASSWORD.
\getenv km_orders_password KM_ORDERS_DB_PASSWORD
\if :{?km_orders_password}
\else
  \set km_orders_password change-me
\endif
\getenv km_inventory_password KM_INVENTORY_DB_PASSWORD
\if :{?km_inventory_password}
\else
  \set km_inventory_password change-me
\endif
\getenv km_lifecycle_password KM_LIFECYCLE_DB_PASSWORD
\if :{?km_lifecycle_password}
\else
  \set km_lifecycle_password change-me
\endif
\getenv km_auditor_password KM_AUDITOR_DB_PASSWORD
\if :{?km_auditor_password}
\else
  \set km_auditor_password change-me
\endif

-- Login roles. None may create databases or roles, and none inherits anything.
CREATE ROLE km_orders LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
  PASSWORD :'km_orders_password';
CREATE ROLE km_inventory LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
  PASSWORD :'km_inventory_password';
CREATE ROLE km_lifecycle LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
  PASSWORD :'km_lifecycle_password';
CREATE ROLE km_auditor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
  PASSWORD :'km_auditor_password';

-- The database belongs to the superuser, not to a service: database owners get implicit rights
-- (e.g. on the public schema through pg_database_owner) that no service should have.
CREATE DATABASE kommunmobil;
REVOKE ALL ON DATABASE kommunmobil FROM PUBLIC;
GRANT CONNECT ON DATABASE kommunmobil TO km_orders, km_inventory, km_lifecycle, km_auditor;

\connect kommunmobil

-- Nobody but the superuser may see or create anything in public.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- One schema per service, owned by that service's role. Owning the schema lets the role create,
-- alter and drop its own tables (migrations) and use them (run time); nothing is granted on the
-- other two schemas, so e.g. km_orders gets "permission denied for schema inventory".
CREATE SCHEMA orders AUTHORIZATION km_orders;
CREATE SCHEMA inventory AUTHORIZATION km_inventory;
CREATE SCHEMA lifecycle AUTHORIZATION km_lifecycle;
REVOKE ALL ON SCHEMA orders, inventory, lifecycle FROM PUBLIC;

-- Unqualified names resolve to the role's own schema (alembic_version included), never public.
ALTER ROLE km_orders IN DATABASE kommunmobil SET search_path = orders;
ALTER ROLE km_inventory IN DATABASE kommunmobil SET search_path = inventory;
ALTER ROLE km_lifecycle IN DATABASE kommunmobil SET search_path = lifecycle;

-- The auditor: USAGE + SELECT on all three schemas, read-only even if a grant slips through.
GRANT USAGE ON SCHEMA orders, inventory, lifecycle TO km_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA orders, inventory, lifecycle TO km_auditor;
-- Tables do not exist yet (the services' migrations create them later, as the owning role), so
-- default privileges FOR that role make every future table readable by the auditor too.
ALTER DEFAULT PRIVILEGES FOR ROLE km_orders IN SCHEMA orders
  GRANT SELECT ON TABLES TO km_auditor;
ALTER DEFAULT PRIVILEGES FOR ROLE km_inventory IN SCHEMA inventory
  GRANT SELECT ON TABLES TO km_auditor;
ALTER DEFAULT PRIVILEGES FOR ROLE km_lifecycle IN SCHEMA lifecycle
  GRANT SELECT ON TABLES TO km_auditor;
ALTER ROLE km_auditor IN DATABASE kommunmobil
  SET search_path = orders, inventory, lifecycle;
ALTER ROLE km_auditor SET default_transaction_read_only = on;
