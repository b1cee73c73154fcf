-- GIN "twins" for the indexes FerretDB creates: without them, every lookup
-- FerretDB 1.24 sends to PostgreSQL reads the whole table.
--
-- Why. FerretDB's PostgreSQL handler stores a collection as a table with one
-- jsonb column, _jsonb, and pushes a top-level equality ({f: v}, {f: {$eq: v}},
-- also $ne) down as a containment test:
--     SELECT _jsonb FROM "db"."coll_1a2b3c4d" WHERE _jsonb->'f' @> '"v"'
-- But the indexes it creates (the _id index of each collection and every
-- createIndexes) are btree indexes on the expression (_jsonb->'f'), and a
-- btree cannot serve @>: PostgreSQL scans the table for each such query
-- (FerretDB issue https://github.com/FerretDB/FerretDB/issues/4646; fixed only
-- in FerretDB 2.x, which needs the DocumentDB extension Debian does not
-- package). A GIN index on the same expression with jsonb_path_ops serves @>:
-- an _id lookup at 30k documents went from ~12 ms to ~0.1 ms here.
--
-- What. An event trigger on ddl_command_end for CREATE INDEX, for every btree
-- index created on a FerretDB collection table (any schema, i.e. any MongoDB
-- database):
-- - a non-unique one is replaced: dropped and created again under its own
--   name as a GIN index on its leading key (what a compound index serves in
--   MongoDB too; the services' compound indexes are {field, _id}, and _id has
--   its own twin below),
--       CREATE INDEX <its name> ON "db"."coll_..." USING gin
--           ((_jsonb -> 'f') jsonb_path_ops) WITH (fastupdate = off)
--   FerretDB never uses a btree here (it sorts in Go and pushes down only @>),
--   so the btree was pure write cost: every insert and update maintained it.
--   The name is FerretDB's, so its listIndexes (from its own metadata) and
--   dropIndexes (DROP INDEX by that name) work as before; the index carries
--   the comment 'gin in place of a btree'.
-- - a unique one (the _id index of each collection, unique: true) stays, as
--   it enforces uniqueness, and gets one GIN twin per key, on that key's
--   expression:
--       CREATE INDEX <name> ON "db"."coll_..." USING gin ((_jsonb -> 'f') jsonb_path_ops)
--           WITH (fastupdate = off)
--   A key that already has a twin on that table gets none (twins are per
--   table and key, whichever index asked first).
-- fastupdate = off: entries go into the index at once instead of a pending
-- list that every lookup scans until the next vacuum.
-- Twin names are predictable: <table, 30 chars>_<key, 16>_<8 hex of md5(table
-- and key expression)>_gin, at most 60 characters; each carries the comment
-- 'gin twin of <btree index>' (how the drop trigger below recognises them).
-- FerretDB's own metadata table (_ferretdb_database_metadata) is left alone.
-- The trigger does not recurse: the twin's own CREATE INDEX fires it again,
-- but a GIN index is never mirrored or replaced.
-- A twin or a replacement that cannot be built only logs a warning (a failed
-- replacement leaves the btree as it was): FerretDB's CREATE INDEX must never
-- fail because of it.
-- Custom plans only: FerretDB sends the key as a parameter of a prepared
-- statement (_jsonb->$1 @> $2). Only a plan made for the actual value
-- ('_id') matches the twin's expression; a generic plan cannot use any
-- index. After five executions PostgreSQL may switch a statement to its
-- generic plan (it did here, while a collection was small) and keep that
-- seq scan as the collection grows until something invalidates the plan:
-- measured 19 ms per _id lookup at 30k documents instead of ~1 ms. So the
-- database gets plan_cache_mode = force_custom_plan (new sessions; planning
-- these one-table queries costs ~0.1 ms).
-- An event trigger on sql_drop removes a twin once no btree index of its table
-- has its key any more (dropIndexes; also a twin made for a non-unique btree
-- by an earlier version of this file, once the backfill replaced that btree);
-- DROP TABLE / DROP SCHEMA take the twins with the table.
--
-- Installed into FerretDB's database by deploy/postgres/postgres.sh start and
-- deploy/ferretdb/ferretdb.sh start, before FerretDB runs: idempotent and
-- cheap (CREATE OR REPLACE; DROP EVENT TRIGGER IF EXISTS; the backfill at the
-- end replaces or twins indexes created while the trigger was not there).
-- Needs a superuser (event triggers do).

SET client_min_messages = warning;

DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database());
END
$$;

-- What one btree index needs: replaced by a GIN under its name when it is not
-- unique, GIN twins per key when it is; returns how many indexes it created.
CREATE OR REPLACE FUNCTION public.clinic_gin_twins_for_index(idx oid) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v_tbl    oid;
    v_nsp    text;
    v_rel    text;
    v_nkeys  integer;
    v_expr   text;
    v_label  text;
    v_twin   text;
    v_made   integer := 0;
    v_unique boolean;
    v_idx    text;
    k        integer;
BEGIN
    SELECT i.indrelid, n.nspname, t.relname, i.indnkeyatts, i.indisunique OR i.indisprimary, ic.relname
      INTO v_tbl, v_nsp, v_rel, v_nkeys, v_unique, v_idx
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE i.indexrelid = idx
       AND am.amname = 'btree'                       -- never a GIN (no recursion)
       AND t.relkind = 'r'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND t.relname NOT LIKE '\_ferretdb\_%'        -- FerretDB's metadata table
       AND EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = i.indrelid AND a.attname = '_jsonb'
                      AND a.atttypid = 'jsonb'::regtype AND NOT a.attisdropped);
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    IF NOT v_unique THEN
        -- Its leading key only: what a compound index serves in MongoDB too.
        v_expr := pg_get_indexdef(idx, 1, false);
        IF (SELECT i.indkey[0] FROM pg_index i WHERE i.indexrelid = idx) <> 0
           OR NOT EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = idx AND a.attnum = 1 AND a.atttypid = 'jsonb'::regtype)
           OR v_expr NOT LIKE '%\_jsonb%' THEN
            RETURN 0;
        END IF;
        BEGIN
            EXECUTE format('DROP INDEX %I.%I', v_nsp, v_idx);
            EXECUTE format('CREATE INDEX %I ON %I.%I USING gin (%s) WITH (fastupdate = off)',
                           v_idx, v_nsp, v_rel, '(' || v_expr || ') jsonb_path_ops');
            EXECUTE format('COMMENT ON INDEX %I.%I IS %L', v_nsp, v_idx, 'gin in place of a btree');
            RETURN 1;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'gin in place of btree %.% (%): % (%)', v_nsp, v_idx, v_expr, SQLERRM, SQLSTATE;
            RETURN 0;
        END;
    END IF;

    FOR k IN 1 .. v_nkeys LOOP
        -- Only keys that are jsonb expressions over _jsonb (FerretDB's
        -- ((_jsonb -> 'f')) and, for a dotted key, ((_jsonb -> 'a') -> 'b')).
        CONTINUE WHEN (SELECT i.indkey[k - 1] FROM pg_index i WHERE i.indexrelid = idx) <> 0;
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_attribute a
                                   WHERE a.attrelid = idx AND a.attnum = k
                                     AND a.atttypid = 'jsonb'::regtype);
        v_expr := pg_get_indexdef(idx, k, false);
        CONTINUE WHEN v_expr NOT LIKE '%\_jsonb%';

        -- Already twinned on this table (by this function or by hand)?
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index i
              JOIN pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_am am ON am.oid = ic.relam
             WHERE i.indrelid = v_tbl AND am.amname = 'gin' AND i.indnkeyatts = 1
               AND pg_get_indexdef(i.indexrelid, 1, false) = v_expr);

        SELECT coalesce(string_agg(m[1], '_'), 'key') INTO v_label
          FROM regexp_matches(v_expr, '''((?:[^'']|'''')*)''', 'g') AS m;
        v_label := left(regexp_replace(lower(v_label), '[^a-z0-9_]+', '_', 'g'), 16);
        v_twin := left(v_rel, 30) || '_' || v_label || '_'
                || left(md5(v_nsp || '.' || v_rel || ' ' || v_expr), 8) || '_gin';
        BEGIN
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((%s) jsonb_path_ops) '
                           'WITH (fastupdate = off)', v_twin, v_nsp, v_rel, v_expr);
            EXECUTE format('COMMENT ON INDEX %I.%I IS %L', v_nsp, v_twin,
                           'gin twin of ' || (SELECT c.relname FROM pg_class c WHERE c.oid = idx));
            v_made := v_made + 1;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'gin twin % of %.% (%): % (%)', v_twin, v_nsp, v_rel, v_expr, SQLERRM, SQLSTATE;
        END;
    END LOOP;
    RETURN v_made;
END
$fn$;

CREATE OR REPLACE FUNCTION public.clinic_gin_twins_on_create() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    cmd record;
BEGIN
    FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands()
                WHERE command_tag = 'CREATE INDEX' AND object_type = 'index'
    LOOP
        PERFORM public.clinic_gin_twins_for_index(cmd.objid);
    END LOOP;
END
$fn$;

-- After a DROP INDEX: twins whose key no btree index of their table has any more.
CREATE OR REPLACE FUNCTION public.clinic_gin_twins_on_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    tw record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects()
                    WHERE object_type = 'index' AND original) THEN
        RETURN;
    END IF;
    FOR tw IN
        SELECT n.nspname, ic.relname AS twin, i.indrelid,
               pg_get_indexdef(i.indexrelid, 1, false) AS expr
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE n.nspname IN (SELECT schema_name FROM pg_event_trigger_dropped_objects()
                              WHERE object_type = 'index' AND original)
           AND obj_description(ic.oid, 'pg_class') LIKE 'gin twin of %'
    LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index b
              JOIN pg_class bc ON bc.oid = b.indexrelid
              JOIN pg_am am ON am.oid = bc.relam
              CROSS JOIN LATERAL generate_series(1, b.indnkeyatts) AS k
             WHERE b.indrelid = tw.indrelid AND am.amname = 'btree'
               AND pg_get_indexdef(b.indexrelid, k, false) = tw.expr);
        EXECUTE format('DROP INDEX IF EXISTS %I.%I', tw.nspname, tw.twin);
    END LOOP;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS clinic_gin_twins_on_create;
CREATE EVENT TRIGGER clinic_gin_twins_on_create ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION public.clinic_gin_twins_on_create();

DROP EVENT TRIGGER IF EXISTS clinic_gin_twins_on_drop;
CREATE EVENT TRIGGER clinic_gin_twins_on_drop ON sql_drop
    WHEN TAG IN ('DROP INDEX')
    EXECUTE FUNCTION public.clinic_gin_twins_on_drop();

-- Backfill: btree indexes of FerretDB tables created while the trigger was
-- not installed (nothing to do, and quick, when every one has its twins).
SELECT count(*) FILTER (WHERE public.clinic_gin_twins_for_index(i.indexrelid) > 0) AS backfilled
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE am.amname = 'btree' AND t.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND t.relname NOT LIKE '\_ferretdb\_%'
   AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = t.oid AND a.attname = '_jsonb' AND NOT a.attisdropped);
