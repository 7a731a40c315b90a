-- CARTO's table-model functions that need no PostGIS, written for the emulator from their
-- documented behaviour. Installed by `cartodb::install` (src/cartodb.rs) into the schema
-- `cartodb` of every user database; `@services@` and `@meta@` are replaced there by the
-- services role and the key schema.
--
-- Rules (docs/security.md): every function is owned by the non-superuser services role and
-- pins `search_path = pg_catalog, pg_temp` (set by the installer after this file, unless the
-- function sets its own), every name is qualified, and all run with the caller's rights
-- except `_cdb_public_roles()`, which only names the public roles of the database. The
-- functions that run a query the caller gives as text (CDB_QueryTablesText, CDB_QueryTables,
-- CDB_EstimateRowCount) keep the caller's search path, so that its names mean what they mean
-- to the caller; everything else they name is qualified.

CREATE SCHEMA IF NOT EXISTS cartodb;
REVOKE ALL ON SCHEMA cartodb FROM PUBLIC;
GRANT USAGE ON SCHEMA cartodb TO PUBLIC;
GRANT USAGE ON SCHEMA @meta@ TO @services@;
GRANT SELECT (role, type) ON @meta@.api_keys TO @services@;

-- The roles of the Default public keys of this database (one per user; CARTO's `publicuser`).
CREATE OR REPLACE FUNCTION cartodb._cdb_public_roles()
RETURNS SETOF pg_catalog.name
LANGUAGE sql STABLE SECURITY DEFINER
AS $fn$
    SELECT k.role::pg_catalog.name FROM @meta@.api_keys k
     WHERE k.type OPERATOR(pg_catalog.=) 'default'
$fn$;

-- Whether a public role may read the table: public and link datasets.
CREATE OR REPLACE FUNCTION cartodb._cdb_is_public(reloid pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE
AS $fn$
    SELECT EXISTS (SELECT 1 FROM cartodb._cdb_public_roles() r
                    WHERE pg_catalog.has_table_privilege(r, reloid, 'SELECT'))
$fn$;

-- Refuses a table the caller may not read (stricter than CARTO, whose column functions
-- answer for any table).
CREATE OR REPLACE FUNCTION cartodb._cdb_check_readable(reloid pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    IF NOT pg_catalog.has_any_column_privilege(reloid, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', reloid USING ERRCODE = '42501';
    END IF;
END
$fn$;

-- Ordinary tables outside the system and CARTO schemas: 'all' (readable by the caller or
-- by a public role), 'public' (readable by a public role), 'private' (readable by the
-- caller and by no public role); any other value: none. Bare names.
CREATE OR REPLACE FUNCTION cartodb.CDB_UserTables(perm pg_catalog.text DEFAULT 'all')
RETURNS SETOF pg_catalog.name
LANGUAGE sql STABLE
AS $fn$
    SELECT c.relname
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.relkind OPERATOR(pg_catalog.=) 'r'
       AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', 'topology',
            'cartodb', 'cdb_dataservices_client', 'carto_emulator_guard', '@meta_text@']::pg_catalog.name[])
       AND NOT pg_catalog.starts_with(n.nspname::pg_catalog.text, 'pg_')
       AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['cdb_tablemetadata', 'cdb_analysis_catalog',
            'cdb_conf', 'spatial_ref_sys']::pg_catalog.name[])
       AND CASE perm
           WHEN 'all' THEN pg_catalog.has_table_privilege(c.oid, 'SELECT')
                           OR cartodb._cdb_is_public(c.oid)
           WHEN 'public' THEN cartodb._cdb_is_public(c.oid)
           WHEN 'private' THEN pg_catalog.has_table_privilege(c.oid, 'SELECT')
                               AND NOT cartodb._cdb_is_public(c.oid)
           ELSE false
           END
$fn$;

-- Column names in position order, without system and dropped columns.
CREATE OR REPLACE FUNCTION cartodb.CDB_ColumnNames(reloid pg_catalog.regclass)
RETURNS SETOF information_schema.sql_identifier
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    PERFORM cartodb._cdb_check_readable(reloid);
    RETURN QUERY
        SELECT a.attname::information_schema.sql_identifier
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) reloid
           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         ORDER BY a.attnum;
END
$fn$;

-- The type of a column, without its modifier (`integer`, `text`, `geometry`); NULL for no
-- such column.
CREATE OR REPLACE FUNCTION cartodb.CDB_ColumnType(reloid pg_catalog.regclass, columnname pg_catalog.text)
RETURNS information_schema.character_data
LANGUAGE plpgsql STABLE
-- `public` on the path so that PostGIS types read `geometry`, as on CARTO.
SET search_path = pg_catalog, public, pg_temp
AS $fn$
BEGIN
    PERFORM cartodb._cdb_check_readable(reloid);
    RETURN (SELECT pg_catalog.format_type(a.atttypid, NULL)::information_schema.character_data
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) reloid
               AND a.attname OPERATOR(pg_catalog.=) columnname::pg_catalog.name
               AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped);
END
$fn$;

-- SQL text split into statements on `;` outside quotes, quoted identifiers, dollar quotes
-- and comments; trimmed, empty ones skipped.
CREATE OR REPLACE FUNCTION cartodb.CDB_QueryStatements(query pg_catalog.text)
RETURNS SETOF pg_catalog.text
LANGUAGE plpgsql IMMUTABLE STRICT
AS $fn$
DECLARE
    n pg_catalog.int4 := pg_catalog.length(query);
    i pg_catalog.int4 := 1;
    start pg_catalog.int4 := 1;
    ch pg_catalog.text;
    tag pg_catalog.text;
    j pg_catalog.int4;
    depth pg_catalog.int4;
    piece pg_catalog.text;
BEGIN
    WHILE i OPERATOR(pg_catalog.<=) n LOOP
        ch := pg_catalog.substr(query, i, 1);
        IF ch OPERATOR(pg_catalog.=) '''' OR ch OPERATOR(pg_catalog.=) '"' THEN
            -- To the closing quote; a doubled quote stays inside.
            LOOP
                i := i OPERATOR(pg_catalog.+) 1;
                EXIT WHEN i OPERATOR(pg_catalog.>) n;
                IF pg_catalog.substr(query, i, 1) OPERATOR(pg_catalog.=) ch THEN
                    EXIT WHEN pg_catalog.substr(query, i OPERATOR(pg_catalog.+) 1, 1) OPERATOR(pg_catalog.<>) ch;
                    i := i OPERATOR(pg_catalog.+) 1;
                END IF;
            END LOOP;
        ELSIF ch OPERATOR(pg_catalog.=) '-' AND pg_catalog.substr(query, i OPERATOR(pg_catalog.+) 1, 1) OPERATOR(pg_catalog.=) '-' THEN
            j := pg_catalog.strpos(pg_catalog.substr(query, i), pg_catalog.chr(10));
            i := CASE WHEN j OPERATOR(pg_catalog.=) 0 THEN n ELSE i OPERATOR(pg_catalog.+) j OPERATOR(pg_catalog.-) 1 END;
        ELSIF ch OPERATOR(pg_catalog.=) '/' AND pg_catalog.substr(query, i OPERATOR(pg_catalog.+) 1, 1) OPERATOR(pg_catalog.=) '*' THEN
            depth := 1;
            i := i OPERATOR(pg_catalog.+) 2;
            WHILE i OPERATOR(pg_catalog.<=) n AND depth OPERATOR(pg_catalog.>) 0 LOOP
                IF pg_catalog.substr(query, i, 2) OPERATOR(pg_catalog.=) '/*' THEN
                    depth := depth OPERATOR(pg_catalog.+) 1;
                    i := i OPERATOR(pg_catalog.+) 1;
                ELSIF pg_catalog.substr(query, i, 2) OPERATOR(pg_catalog.=) '*/' THEN
                    depth := depth OPERATOR(pg_catalog.-) 1;
                    i := i OPERATOR(pg_catalog.+) 1;
                END IF;
                i := i OPERATOR(pg_catalog.+) 1;
            END LOOP;
            i := i OPERATOR(pg_catalog.-) 1;
        ELSIF ch OPERATOR(pg_catalog.=) '$' THEN
            tag := pg_catalog.substring(pg_catalog.substr(query, i), '^\$([A-Za-z_][A-Za-z0-9_]*)?\$');
            IF tag IS NOT NULL OR pg_catalog.substr(query, i, 2) OPERATOR(pg_catalog.=) '$$' THEN
                tag := pg_catalog.concat('$', tag, '$');
                j := pg_catalog.strpos(pg_catalog.substr(query, i OPERATOR(pg_catalog.+) pg_catalog.length(tag)), tag);
                i := CASE WHEN j OPERATOR(pg_catalog.=) 0 THEN n
                          ELSE i OPERATOR(pg_catalog.+) pg_catalog.length(tag) OPERATOR(pg_catalog.+) j
                               OPERATOR(pg_catalog.+) pg_catalog.length(tag) OPERATOR(pg_catalog.-) 2 END;
            END IF;
        ELSIF ch OPERATOR(pg_catalog.=) ';' THEN
            piece := pg_catalog.btrim(pg_catalog.substr(query, start, i OPERATOR(pg_catalog.-) start), E' \t\n\r\f\v');
            IF piece OPERATOR(pg_catalog.<>) '' THEN
                RETURN NEXT piece;
            END IF;
            start := i OPERATOR(pg_catalog.+) 1;
        END IF;
        i := i OPERATOR(pg_catalog.+) 1;
    END LOOP;
    piece := pg_catalog.btrim(pg_catalog.substr(query, start), E' \t\n\r\f\v');
    IF piece OPERATOR(pg_catalog.<>) '' THEN
        RETURN NEXT piece;
    END IF;
END
$fn$;

-- The relations each statement of `query` reads, from its plan (`EXPLAIN` with the
-- caller's rights), as `schema.table` quoted where needed, distinct and sorted. Statements
-- EXPLAIN cannot parse (DDL) are skipped; any other error is raised after a WARNING.
CREATE OR REPLACE FUNCTION cartodb.CDB_QueryTablesText(query pg_catalog.text)
RETURNS pg_catalog.text[]
LANGUAGE plpgsql VOLATILE STRICT
AS $fn$
DECLARE
    stmt pg_catalog.text;
    plan pg_catalog.json;
    found pg_catalog.text[] := '{}';
BEGIN
    FOR stmt IN SELECT cartodb.CDB_QueryStatements(query) LOOP
        BEGIN
            EXECUTE pg_catalog.concat('EXPLAIN (FORMAT JSON, VERBOSE) ', stmt) INTO plan;
        EXCEPTION
            WHEN syntax_error THEN CONTINUE;
            WHEN OTHERS THEN
                RAISE WARNING 'CDB_QueryTables cannot explain query: % (%: %)', stmt, SQLSTATE, SQLERRM;
                RAISE;
        END;
        found := found OPERATOR(pg_catalog.||) ARRAY(
            SELECT pg_catalog.format('%I.%I', r OPERATOR(pg_catalog.->>) 'Schema', r OPERATOR(pg_catalog.->>) 'Relation Name')
              FROM pg_catalog.jsonb_path_query(plan::pg_catalog.jsonb,
                       'strict $.** ? (exists (@."Relation Name"))') r);
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT t FROM pg_catalog.unnest(found) t ORDER BY t);
END
$fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_QueryTables(query pg_catalog.text)
RETURNS pg_catalog.name[]
LANGUAGE sql VOLATILE STRICT
AS $fn$ SELECT cartodb.CDB_QueryTablesText(query)::pg_catalog.name[] $fn$;

-- The planner's row estimate of a query (run with the caller's rights).
CREATE OR REPLACE FUNCTION cartodb.CDB_EstimateRowCount(query pg_catalog.text)
RETURNS pg_catalog.numeric
LANGUAGE plpgsql VOLATILE STRICT
AS $fn$
DECLARE
    plan pg_catalog.json;
BEGIN
    EXECUTE pg_catalog.concat('EXPLAIN (FORMAT JSON) ', query) INTO plan;
    RETURN (plan OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.->) 'Plan' OPERATOR(pg_catalog.->>) 'Plan Rows')::pg_catalog.numeric;
END
$fn$;

-- Metres per pixel of a 256-pixel web-mercator tile at zoom `z`.
CREATE OR REPLACE FUNCTION cartodb.CDB_XYZ_Resolution(z pg_catalog.int4)
RETURNS pg_catalog.float8
LANGUAGE sql IMMUTABLE STRICT
AS $fn$
    SELECT 6378137.0::pg_catalog.float8 OPERATOR(pg_catalog.*) 2.0::pg_catalog.float8
           OPERATOR(pg_catalog.*) pg_catalog.pi() OPERATOR(pg_catalog./) 256.0::pg_catalog.float8
           OPERATOR(pg_catalog./) pg_catalog.power(2.0::pg_catalog.float8, z::pg_catalog.float8)
$fn$;

-- The web map zoom level of a scale denominator: NULL above 600M, 29 for 0.
CREATE OR REPLACE FUNCTION cartodb.CDB_ZoomFromScale(scaledenominator pg_catalog.numeric)
RETURNS pg_catalog.int4
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN scaledenominator OPERATOR(pg_catalog.>) 600000000 THEN NULL
        WHEN scaledenominator OPERATOR(pg_catalog.=) 0 THEN 29
        ELSE LEAST(pg_catalog.round(pg_catalog.log(2::pg_catalog.numeric,
                 559082264.028 OPERATOR(pg_catalog./) scaledenominator)), 29)::pg_catalog.int4
    END
$fn$;

-- Epoch seconds of a date; NULL when it cannot be computed.
CREATE OR REPLACE FUNCTION cartodb.CDB_DateToNumber(input pg_catalog.timestamptz)
RETURNS pg_catalog.float8
LANGUAGE plpgsql IMMUTABLE STRICT
AS $fn$
BEGIN
    RETURN pg_catalog.date_part('epoch', input);
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$fn$;

-- A date without time zone is read as UTC.
CREATE OR REPLACE FUNCTION cartodb.CDB_DateToNumber(input pg_catalog.timestamp)
RETURNS pg_catalog.float8
LANGUAGE sql IMMUTABLE STRICT
AS $fn$ SELECT cartodb.CDB_DateToNumber(input AT TIME ZONE 'UTC') $fn$;

-- A date from text: as a date when it reads as one, else as epoch seconds, else NULL.
CREATE OR REPLACE FUNCTION cartodb.CDB_StringToDate(input pg_catalog.varchar)
RETURNS pg_catalog.timestamp
LANGUAGE plpgsql STABLE STRICT
AS $fn$
BEGIN
    BEGIN
        RETURN input::pg_catalog.date::pg_catalog.timestamp;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    BEGIN
        RETURN pg_catalog.to_timestamp(input::pg_catalog.int8::pg_catalog.float8)::pg_catalog.timestamp;
    EXCEPTION WHEN OTHERS THEN
        RETURN NULL;
    END;
END
$fn$;

-- A name built from `prefix || name || suffix` (name cut so that the whole fits in 63
-- bytes, on a character boundary) that is free, digits appended until it is: among the
-- columns of `reloid` when given, else among the relations of `schema` (of any schema when
-- NULL).
CREATE OR REPLACE FUNCTION cartodb._CDB_Unique_Name(prefix pg_catalog.text, name pg_catalog.text,
                                                    suffix pg_catalog.text, reloid pg_catalog.regclass,
                                                    schema pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    budget pg_catalog.int4 := 59 OPERATOR(pg_catalog.-) pg_catalog.octet_length(COALESCE(prefix, ''))
                              OPERATOR(pg_catalog.-) pg_catalog.octet_length(COALESCE(suffix, ''));
    base pg_catalog.text := COALESCE(name, '');
    candidate pg_catalog.text;
    k pg_catalog.int4 := -1;
BEGIN
    WHILE pg_catalog.octet_length(base) OPERATOR(pg_catalog.>) budget LOOP
        base := pg_catalog.left(base, -1);
    END LOOP;
    LOOP
        candidate := pg_catalog.concat(prefix, base, suffix,
                         CASE WHEN k OPERATOR(pg_catalog.>=) 0 THEN k::pg_catalog.text END);
        EXIT WHEN reloid IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) reloid
               AND a.attname OPERATOR(pg_catalog.=) candidate::pg_catalog.name AND NOT a.attisdropped);
        EXIT WHEN reloid IS NULL AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE c.relname OPERATOR(pg_catalog.=) candidate::pg_catalog.name
               AND (schema IS NULL OR n.nspname OPERATOR(pg_catalog.=) schema::pg_catalog.name));
        k := k OPERATOR(pg_catalog.+) 1;
        IF k OPERATOR(pg_catalog.>) 10000 THEN
            RAISE EXCEPTION '_CDB_Unique_Name: looping too far';
        END IF;
    END LOOP;
    RETURN candidate;
END
$fn$;

-- A free relation name in `schema` (any schema when NULL).
CREATE OR REPLACE FUNCTION cartodb._CDB_Unique_Identifier(prefix pg_catalog.text, relname pg_catalog.text,
                                                          suffix pg_catalog.text, schema pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
AS $fn$ SELECT cartodb._CDB_Unique_Name(prefix, relname, suffix, NULL, schema) $fn$;

-- A free column name in the table `reloid`.
CREATE OR REPLACE FUNCTION cartodb._CDB_Unique_Column_Identifier(prefix pg_catalog.text, colname pg_catalog.text,
                                                                 suffix pg_catalog.text, reloid pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
AS $fn$ SELECT cartodb._CDB_Unique_Name(prefix, colname, suffix, reloid, NULL) $fn$;

-- Builds the table again with the same columns (without the slots of dropped columns,
-- which count against PostgreSQL's 1600), data, constraints, indexes, triggers, grants,
-- comment and owned sequences. Runs with the caller's rights: the caller must own it.
CREATE OR REPLACE FUNCTION cartodb.CDB_RegenerateTable(reloid pg_catalog.oid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    rel pg_catalog.regclass := reloid::pg_catalog.regclass;
    nsp pg_catalog.name;
    tname pg_catalog.name;
    owner_oid pg_catalog.oid;
    note pg_catalog.text;
    coldefs pg_catalog.text;
    copied pg_catalog.text;
    later pg_catalog.text[] := '{}';
    seqs pg_catalog.text[] := '{}';
    stmt pg_catalog.text;
    tmp pg_catalog.text;
    r record;
BEGIN
    SELECT n.nspname, c.relname, c.relowner INTO nsp, tname, owner_oid
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) reloid AND c.relkind OPERATOR(pg_catalog.=) 'r';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'CDB_RegenerateTable: % is not a table', rel USING ERRCODE = '42809';
    END IF;
    IF NOT pg_catalog.pg_has_role(owner_oid, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tname USING ERRCODE = '42501';
    END IF;
    note := pg_catalog.obj_description(reloid, 'pg_class');
    SELECT pg_catalog.string_agg(pg_catalog.format('%I %s%s%s', a.attname,
               pg_catalog.format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attgenerated OPERATOR(pg_catalog.=) 's'
                    THEN pg_catalog.format(' GENERATED ALWAYS AS (%s) STORED', pg_catalog.pg_get_expr(d.adbin, d.adrelid))
                    WHEN d.adbin IS NOT NULL
                    THEN pg_catalog.format(' DEFAULT %s', pg_catalog.pg_get_expr(d.adbin, d.adrelid))
                    ELSE '' END,
               CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum),
           pg_catalog.string_agg(CASE WHEN a.attgenerated OPERATOR(pg_catalog.<>) 's'
                                      THEN pg_catalog.quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
      INTO coldefs, copied
      FROM pg_catalog.pg_attribute a
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid
           AND d.adnum OPERATOR(pg_catalog.=) a.attnum
     WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    -- Constraints, then the indexes no constraint made, then triggers, grants, comment.
    FOR r IN SELECT k.conname, pg_catalog.pg_get_constraintdef(k.oid) AS def FROM pg_catalog.pg_constraint k
              WHERE k.conrelid OPERATOR(pg_catalog.=) reloid
              ORDER BY k.contype OPERATOR(pg_catalog.<>) 'p', k.conname LOOP
        later := later OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', nsp, tname, r.conname, r.def);
    END LOOP;
    FOR r IN SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS def FROM pg_catalog.pg_index i
              WHERE i.indrelid OPERATOR(pg_catalog.=) reloid
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                                 WHERE k.conindid OPERATOR(pg_catalog.=) i.indexrelid
                                   AND k.conrelid OPERATOR(pg_catalog.=) reloid) LOOP
        later := later OPERATOR(pg_catalog.||) r.def;
    END LOOP;
    FOR r IN SELECT pg_catalog.pg_get_triggerdef(t.oid) AS def FROM pg_catalog.pg_trigger t
              WHERE t.tgrelid OPERATOR(pg_catalog.=) reloid AND NOT t.tgisinternal LOOP
        later := later OPERATOR(pg_catalog.||) r.def;
    END LOOP;
    FOR r IN SELECT g.grantee, g.privilege_type, g.is_grantable
               FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) g
              WHERE c.oid OPERATOR(pg_catalog.=) reloid AND g.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
        later := later OPERATOR(pg_catalog.||) pg_catalog.format('GRANT %s ON %I.%I TO %s%s', r.privilege_type, nsp, tname,
            CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END,
            CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF note IS NOT NULL THEN
        later := later OPERATOR(pg_catalog.||) pg_catalog.format('COMMENT ON TABLE %I.%I IS %L', nsp, tname, note);
    END IF;
    -- Sequences owned by a column would go with the table: they are let go, then owned again.
    FOR r IN SELECT s.oid::pg_catalog.regclass AS seq, a.attname
               FROM pg_catalog.pg_depend dep
               JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) dep.objid AND s.relkind OPERATOR(pg_catalog.=) 'S'
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) dep.refobjid
                    AND a.attnum OPERATOR(pg_catalog.=) dep.refobjsubid
              WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND dep.refobjid OPERATOR(pg_catalog.=) reloid AND dep.deptype OPERATOR(pg_catalog.=) 'a' LOOP
        EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNED BY NONE', r.seq);
        later := later OPERATOR(pg_catalog.||) pg_catalog.format('ALTER SEQUENCE %s OWNED BY %I.%I.%I', r.seq, nsp, tname, r.attname);
    END LOOP;
    tmp := pg_catalog.format('cdb_regenerate_%s', reloid);
    EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE %I AS SELECT %s FROM %I.%I', tmp, copied, nsp, tname);
    EXECUTE pg_catalog.format('DROP TABLE %I.%I', nsp, tname);
    EXECUTE pg_catalog.format('CREATE TABLE %I.%I (%s)', nsp, tname, coldefs);
    IF pg_catalog.pg_get_userbyid(owner_oid) OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I', nsp, tname, pg_catalog.pg_get_userbyid(owner_oid));
    END IF;
    EXECUTE pg_catalog.format('INSERT INTO %I.%I (%s) SELECT %s FROM pg_temp.%I', nsp, tname, copied, copied, tmp);
    EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', tmp);
    FOREACH stmt IN ARRAY later LOOP
        EXECUTE stmt;
    END LOOP;
END
$fn$;

-- When each table was last written: a row per table with the `track_updates` trigger
-- (cartodbfied tables). No grants, as on CARTO; written only by the trigger below and
-- CDB_TableMetadataTouch, read through the view.
CREATE TABLE IF NOT EXISTS cartodb.CDB_TableMetadata (
    tabname pg_catalog.regclass PRIMARY KEY,
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER TABLE cartodb.CDB_TableMetadata OWNER TO @services@;
REVOKE ALL ON cartodb.CDB_TableMetadata FROM PUBLIC;

-- The rows of the tables the caller may read, `tabname` as text (`schema.table`, quoted
-- where needed).
CREATE OR REPLACE VIEW cartodb.CDB_TableMetadata_Text AS
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tabname, m.updated_at
      FROM cartodb.CDB_TableMetadata m
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.tabname::pg_catalog.oid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE pg_catalog.has_table_privilege(c.oid, 'SELECT');
ALTER VIEW cartodb.CDB_TableMetadata_Text OWNER TO @services@;
REVOKE ALL ON cartodb.CDB_TableMetadata_Text FROM PUBLIC;
GRANT SELECT ON cartodb.CDB_TableMetadata_Text TO PUBLIC;

-- Records `now()` for a table (and forgets dropped tables). SECURITY DEFINER so that any
-- writer of the table records its write; it writes that one table's row and nothing else.
CREATE OR REPLACE FUNCTION cartodb._CDB_TableMetadata_Upsert(reloid pg_catalog.oid)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
AS $fn$
    DELETE FROM cartodb.CDB_TableMetadata m
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                        WHERE c.oid OPERATOR(pg_catalog.=) m.tabname::pg_catalog.oid);
    INSERT INTO cartodb.CDB_TableMetadata (tabname, updated_at)
    VALUES (reloid::pg_catalog.regclass, pg_catalog.now())
    ON CONFLICT (tabname) DO UPDATE SET updated_at = EXCLUDED.updated_at;
$fn$;
REVOKE ALL ON FUNCTION cartodb._CDB_TableMetadata_Upsert(pg_catalog.oid) FROM PUBLIC;

-- The statement trigger `track_updates` of cartodbfied tables.
CREATE OR REPLACE FUNCTION cartodb.CDB_TableMetadata_Trigger()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $fn$
BEGIN
    PERFORM cartodb._CDB_TableMetadata_Upsert(TG_RELID);
    RETURN NULL;
END
$fn$;

-- Marks a table as written now; for the table's owner only (the login role of the session:
-- this runs as the services role).
CREATE OR REPLACE FUNCTION cartodb.CDB_TableMetadataTouch(tablename pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $fn$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, (SELECT c.relowner FROM pg_catalog.pg_class c
                                    WHERE c.oid OPERATOR(pg_catalog.=) tablename), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tablename USING ERRCODE = '42501';
    END IF;
    PERFORM cartodb._CDB_TableMetadata_Upsert(tablename);
END
$fn$;
