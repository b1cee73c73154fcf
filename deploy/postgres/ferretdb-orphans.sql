-- Drops the empty tables FerretDB lost track of, before FerretDB starts.
--
-- Why. FerretDB 1.24 creates a collection in two PostgreSQL statements, not
-- one transaction: CREATE TABLE "db"."coll_<fnv32a>", then an INSERT of the
-- collection's row into "db"._ferretdb_database_metadata. If PostgreSQL stops
-- or crashes between them (or FerretDB's request is cancelled), the table
-- stays without its row: FerretDB does not know the collection, and every
-- later creation of it (createIndexes, an insert) picks the same table name
-- and fails with "relation ... already exists (SQLSTATE 42P07)", forever.
-- The services create their collections only at set-up (and report
-- "setting-up" on /readyz until then), which narrows that window to their
-- first second; this file closes what is left.
--
-- What. In every schema that holds FerretDB's metadata table (a MongoDB
-- database), a table that no metadata row names is an orphan. An empty
-- orphan is dropped; one with rows is only reported (a NOTICE), never
-- touched: no data is deleted here. Run by deploy/ferretdb/ferretdb.sh start
-- before FerretDB starts, so FerretDB's cache of the metadata never sees it.
DO $$
DECLARE
    t record;
    named boolean;
    has_rows boolean;
BEGIN
    FOR t IN
        SELECT c.table_schema AS s, c.table_name AS n
        FROM information_schema.tables c
        WHERE c.table_type = 'BASE TABLE'
          AND c.table_name <> '_ferretdb_database_metadata'
          AND EXISTS (SELECT 1 FROM information_schema.tables m
                      WHERE m.table_schema = c.table_schema
                        AND m.table_name = '_ferretdb_database_metadata')
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I._ferretdb_database_metadata '
                       'WHERE _jsonb->>''table'' = $1)', t.s)
            INTO named USING t.n;
        CONTINUE WHEN named;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', t.s, t.n) INTO has_rows;
        IF has_rows THEN
            RAISE NOTICE 'FerretDB orphan table %.% has rows: left alone', t.s, t.n;
        ELSE
            EXECUTE format('DROP TABLE %I.%I', t.s, t.n);
            RAISE NOTICE 'dropped the empty FerretDB orphan table %.%', t.s, t.n;
        END IF;
    END LOOP;
END
$$;
