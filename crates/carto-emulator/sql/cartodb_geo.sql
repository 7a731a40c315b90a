-- CARTO's table model on PostGIS: the geometry functions and `CDB_CartodbfyTable`, written
-- for the emulator from their documented behaviour. Installed after cartodb_base.sql when
-- the database has PostGIS (see src/cartodb.rs); same rules as there.

-- The stand-ins that said "needs PostGIS" (cartodb_nogeo.sql) go first: their return types
-- differ.
DO $do$
DECLARE
    f pg_catalog.regprocedure;
BEGIN
    FOR f IN SELECT p.oid::pg_catalog.regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cartodb'::pg_catalog.regnamespace
                AND p.prorettype OPERATOR(pg_catalog.=) 'pg_catalog.void'::pg_catalog.regtype
                AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['cdb_latlng', 'cdb_xyz_extent']::pg_catalog.name[]) LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END
$do$;

-- A point from latitude and longitude (latitude first), in 4326.
CREATE OR REPLACE FUNCTION cartodb.CDB_LatLng(lat pg_catalog.numeric, lng pg_catalog.numeric)
RETURNS public.geometry
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT public.ST_SetSRID(public.ST_MakePoint(lng::pg_catalog.float8, lat::pg_catalog.float8), 4326)
$fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_LatLng(lat pg_catalog.float8, lng pg_catalog.float8)
RETURNS public.geometry
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT public.ST_SetSRID(public.ST_MakePoint(lng, lat), 4326)
$fn$;

-- `geom` with SRID `srid` when it has none.
CREATE OR REPLACE FUNCTION cartodb._CDB_With_SRID(geom public.geometry, srid pg_catalog.int4)
RETURNS public.geometry
LANGUAGE sql IMMUTABLE STRICT
AS $fn$
    SELECT CASE WHEN public.ST_SRID(geom) OPERATOR(pg_catalog.=) 0 THEN public.ST_SetSRID(geom, srid) ELSE geom END
$fn$;

-- A geometry in web mercator (3857). Already 3857: unchanged. Otherwise taken to 4326 (no
-- SRID: read as 4326); within longitudes -180..180 and latitudes -89..89 it is transformed
-- (NULL when that fails); beyond, it is made valid, clipped to that band keeping the parts
-- of its own dimension (MULTI stays MULTI), and transformed; nothing left: NULL.
CREATE OR REPLACE FUNCTION cartodb.CDB_TransformToWebmercator(geom public.geometry)
RETURNS public.geometry
LANGUAGE plpgsql IMMUTABLE STRICT
AS $fn$
DECLARE
    band public.geometry := public.ST_MakeEnvelope(-180, -89, 180, 89, 4326);
    geo public.geometry;
    kind pg_catalog.text;
    clipped public.geometry;
BEGIN
    IF public.ST_SRID(geom) OPERATOR(pg_catalog.=) 3857 THEN
        RETURN geom;
    END IF;
    geo := public.ST_Transform(cartodb._CDB_With_SRID(geom, 4326), 4326);
    IF public.ST_CoveredBy(geo, band) THEN
        BEGIN
            RETURN public.ST_Transform(geo, 3857);
        EXCEPTION WHEN OTHERS THEN
            RETURN NULL;
        END;
    END IF;
    kind := public.GeometryType(geo);
    IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['POINT', 'MULTIPOINT', 'GEOMETRYCOLLECTION']) THEN
        BEGIN
            geo := public.ST_MakeValid(geo);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'Could not clean input geometry: %', SQLERRM;
            RETURN NULL;
        END;
    END IF;
    clipped := public.ST_Intersection(geo, band);
    IF kind OPERATOR(pg_catalog.<>) 'GEOMETRYCOLLECTION' THEN
        clipped := public.ST_CollectionExtract(clipped,
            public.ST_Dimension(geom) OPERATOR(pg_catalog.+) 1);
    END IF;
    IF clipped IS NULL OR public.ST_IsEmpty(clipped) THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.starts_with(kind, 'MULTI') THEN
        clipped := public.ST_Multi(clipped);
    END IF;
    BEGIN
        RETURN public.ST_Transform(clipped, 3857);
    EXCEPTION WHEN OTHERS THEN
        RETURN NULL;
    END;
END
$fn$;

-- The envelope (3857) of the XYZ tile x, y at zoom z (y = 0 at the north, 256-pixel tiles).
CREATE OR REPLACE FUNCTION cartodb.CDB_XYZ_Extent(x pg_catalog.int4, y pg_catalog.int4, z pg_catalog.int4)
RETURNS public.geometry
LANGUAGE plpgsql IMMUTABLE STRICT
AS $fn$
DECLARE
    origin pg_catalog.float8 := cartodb.CDB_XYZ_Resolution(0) OPERATOR(pg_catalog.*) 128;
    size pg_catalog.float8 := cartodb.CDB_XYZ_Resolution(z) OPERATOR(pg_catalog.*) 256;
    -- (OPERATOR() syntax gives every operator the same precedence: hence the parentheses.)
    xmin pg_catalog.float8 := (x OPERATOR(pg_catalog.*) size) OPERATOR(pg_catalog.-) origin;
    ymax pg_catalog.float8 := origin OPERATOR(pg_catalog.-) (y OPERATOR(pg_catalog.*) size);
BEGIN
    RETURN public.ST_MakeEnvelope(xmin, ymax OPERATOR(pg_catalog.-) size,
                                  xmin OPERATOR(pg_catalog.+) size, ymax, 3857);
END
$fn$;

-- The trigger of cartodbfied tables: `the_geom_webmercator` follows `the_geom`.
CREATE OR REPLACE FUNCTION cartodb._CDB_update_the_geom_webmercator()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    NEW.the_geom_webmercator := cartodb.CDB_TransformToWebmercator(NEW.the_geom);
    RETURN NEW;
END
$fn$;

-- The declared SRID of a geometry column (0 when it declares none).
CREATE OR REPLACE FUNCTION cartodb._CDB_Column_SRID(reloid pg_catalog.regclass, colname pg_catalog.name)
RETURNS pg_catalog.int4
LANGUAGE sql STABLE
AS $fn$
    SELECT CASE WHEN a.atttypmod OPERATOR(pg_catalog.<) 0 THEN 0
                ELSE public.postgis_typmod_srid(a.atttypmod) END
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attname OPERATOR(pg_catalog.=) colname
$fn$;

-- Makes `reloid` a CARTO table in `destschema` (see docs/security.md and the comments
-- below): an integer `cartodb_id` primary key with its own sequence, `the_geom` (4326) and
-- `the_geom_webmercator` (3857) kept in step by a trigger, GiST indexes on both. Runs with
-- the caller's rights: the caller must own the table. Returns the table.
CREATE OR REPLACE FUNCTION cartodb.CDB_CartodbfyTable(destschema pg_catalog.text, reloid pg_catalog.regclass)
RETURNS pg_catalog.regclass
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    tname pg_catalog.name;
    kind pg_catalog."char";
    id_att pg_catalog.int2;
    id_notnull boolean;
    id_usable boolean := false;
    geom_src pg_catalog.name;
    geom_srid pg_catalog.int4;
    g4326 pg_catalog.name;
    g3857 pg_catalog.name;
    col record;
    stmt pg_catalog.text;
    ok boolean;
    seq pg_catalog.text;
    tmp pg_catalog.name;
    others pg_catalog.text;
    src pg_catalog.text;
    target pg_catalog.regclass;
    maxid pg_catalog.int8;
BEGIN
    IF destschema IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace
                                          WHERE nspname OPERATOR(pg_catalog.=) destschema::pg_catalog.name) THEN
        RAISE EXCEPTION 'CDB(CDB_CartodbfyTable): Invalid schema name "%"', destschema
            USING ERRCODE = '3F000';
    END IF;
    SELECT c.relname, c.relkind INTO tname, kind FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) reloid;
    IF kind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'CDB(CDB_CartodbfyTable): % is not a table', reloid USING ERRCODE = '42809';
    END IF;

    IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                    WHERE c.oid OPERATOR(pg_catalog.=) reloid), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tname USING ERRCODE = '42501';
    END IF;

    -- 1. The triggers go while columns change.
    FOR col IN SELECT t.tgname FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid OPERATOR(pg_catalog.=) reloid AND NOT t.tgisinternal
                  AND t.tgname OPERATOR(pg_catalog.=) ANY (ARRAY['update_the_geom_webmercator_trigger', 'track_updates',
                                                               'test_quota', 'test_quota_per_row']::pg_catalog.name[]) LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', col.tgname, reloid);
    END LOOP;

    -- 2. The key. An existing `cartodb_id` must be unique, not null and integer (tried with
    -- constraints that are dropped again); else an integer unique not-null column becomes it.
    SELECT a.attnum, a.attnotnull INTO id_att, id_notnull FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attname OPERATOR(pg_catalog.=) 'cartodb_id'
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF id_att IS NOT NULL THEN
        IF id_notnull AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                   WHERE i.indrelid OPERATOR(pg_catalog.=) reloid AND i.indisunique
                                     AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
                                     AND i.indkey[0] OPERATOR(pg_catalog.=) id_att AND i.indpred IS NULL) THEN
            id_usable := true;
        ELSE
            stmt := pg_catalog.format(
                'ALTER TABLE %s ADD CONSTRAINT cartodb_id_pk PRIMARY KEY (cartodb_id), '
                'ADD CONSTRAINT cartodb_id_integer CHECK (cartodb_id::pg_catalog.int4 OPERATOR(pg_catalog.>=) 0)', reloid);
            BEGIN
                EXECUTE stmt;
                EXECUTE pg_catalog.format(
                    'ALTER TABLE %s DROP CONSTRAINT cartodb_id_pk, DROP CONSTRAINT cartodb_id_integer', reloid);
                id_usable := true;
            EXCEPTION
                WHEN unique_violation OR not_null_violation OR invalid_text_representation
                     OR numeric_value_out_of_range OR cannot_coerce THEN
                    RAISE EXCEPTION 'CDB(_CDB_Has_Usable_Primary_ID: Error: invalid cartodb_id, cartodb_id): %', stmt
                        USING ERRCODE = '22023';
                WHEN OTHERS THEN
                    RAISE EXCEPTION 'CDB(_CDB_Has_Usable_Primary_ID: %): %', SQLERRM, stmt USING ERRCODE = SQLSTATE;
            END;
        END IF;
    ELSE
        SELECT a.attname INTO col FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) a.attrelid
               AND i.indisunique AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
               AND i.indkey[0] OPERATOR(pg_catalog.=) a.attnum AND i.indpred IS NULL
         WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnotnull AND NOT a.attisdropped
           AND a.atttypid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.int2', 'pg_catalog.int4',
                                                            'pg_catalog.int8']::pg_catalog.regtype[])
         ORDER BY i.indisprimary DESC, a.attnum LIMIT 1;
        IF FOUND THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s RENAME COLUMN %I TO cartodb_id', reloid, col.attname);
            id_usable := true;
        END IF;
    END IF;

    -- 3. Columns named the_geom or the_geom_webmercator that are not geometries: a text
    -- the_geom whose values all read as geometries is the source; the others move aside.
    FOR col IN SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a
                WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0
                  AND NOT a.attisdropped
                  AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['the_geom', 'the_geom_webmercator']::pg_catalog.name[])
                  AND a.atttypid OPERATOR(pg_catalog.<>) 'public.geometry'::pg_catalog.regtype LOOP
        ok := false;
        IF col.attname OPERATOR(pg_catalog.=) 'the_geom' AND col.atttypid OPERATOR(pg_catalog.=) ANY (
               ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar']::pg_catalog.regtype[]) THEN
            BEGIN
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(%I::public.geometry) FROM %s', col.attname, reloid);
                ok := true;
            EXCEPTION WHEN OTHERS THEN
                ok := false;
            END;
        END IF;
        IF ok THEN
            geom_src := col.attname;
            geom_srid := 4326;
        ELSE
            EXECUTE pg_catalog.format('ALTER TABLE %s RENAME COLUMN %I TO %I', reloid, col.attname,
                cartodb._CDB_Unique_Column_Identifier(NULL, col.attname, NULL, reloid));
        END IF;
    END LOOP;

    -- 4. Geometry columns: a 4326 one is the_geom, a 3857 one the_geom_webmercator (those
    -- names first). Both found: they are renamed into place if needed.
    IF geom_src IS NULL THEN
        SELECT a.attname INTO g4326 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND a.atttypid OPERATOR(pg_catalog.=) 'public.geometry'::pg_catalog.regtype
           AND cartodb._CDB_Column_SRID(reloid, a.attname) OPERATOR(pg_catalog.=) 4326
         ORDER BY a.attname OPERATOR(pg_catalog.<>) 'the_geom', a.attnum LIMIT 1;
        SELECT a.attname INTO g3857 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND a.atttypid OPERATOR(pg_catalog.=) 'public.geometry'::pg_catalog.regtype
           AND cartodb._CDB_Column_SRID(reloid, a.attname) OPERATOR(pg_catalog.=) 3857
         ORDER BY a.attname OPERATOR(pg_catalog.<>) 'the_geom_webmercator', a.attnum LIMIT 1;
        IF g4326 IS NOT NULL AND g3857 IS NOT NULL THEN
            FOR col IN SELECT * FROM (VALUES (g4326, 'the_geom'::pg_catalog.name),
                                             (g3857, 'the_geom_webmercator'::pg_catalog.name)) v(have, want) LOOP
                IF col.have OPERATOR(pg_catalog.<>) col.want THEN
                    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attname OPERATOR(pg_catalog.=) col.want
                                  AND NOT a.attisdropped) THEN
                        EXECUTE pg_catalog.format('ALTER TABLE %s RENAME COLUMN %I TO %I', reloid, col.want,
                            cartodb._CDB_Unique_Column_Identifier(NULL, col.want, NULL, reloid));
                    END IF;
                    EXECUTE pg_catalog.format('ALTER TABLE %s RENAME COLUMN %I TO %I', reloid, col.have, col.want);
                END IF;
            END LOOP;
        ELSE
            -- The source of both: the 4326 column, else the first geometry column.
            geom_src := g4326;
            IF geom_src IS NULL THEN
                SELECT a.attname INTO geom_src FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0
                   AND NOT a.attisdropped AND a.atttypid OPERATOR(pg_catalog.=) 'public.geometry'::pg_catalog.regtype
                 ORDER BY a.attnum LIMIT 1;
            END IF;
            IF geom_src IS NOT NULL THEN
                geom_srid := cartodb._CDB_Column_SRID(reloid, geom_src);
                IF geom_srid OPERATOR(pg_catalog.=) 0 THEN
                    EXECUTE pg_catalog.format('SELECT public.ST_SRID(%I) FROM %s WHERE %I IS NOT NULL LIMIT 1',
                                              geom_src, reloid, geom_src) INTO geom_srid;
                    geom_srid := COALESCE(NULLIF(geom_srid, 0), 4326);
                END IF;
            END IF;
        END IF;
    END IF;

    -- 5. Nothing to rewrite: the key with its sequence and both geometries are there.
    IF id_usable AND geom_src IS NULL AND g4326 IS NOT NULL
       AND pg_catalog.pg_get_serial_sequence(reloid::pg_catalog.text, 'cartodb_id') IS NOT NULL THEN
        IF (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) reloid)
           OPERATOR(pg_catalog.<>) destschema::pg_catalog.regnamespace THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA %I', reloid, destschema);
        END IF;
        target := reloid;
    ELSE
        -- 6. Rewrite: cartodb_id, the_geom, the_geom_webmercator, then the other columns.
        seq := cartodb._CDB_Unique_Identifier(NULL, tname, '_cartodb_id_seq', destschema);
        tmp := cartodb._CDB_Unique_Identifier('__cdb_', tname, '_tmp', destschema);
        EXECUTE pg_catalog.format('CREATE SEQUENCE %I.%I', destschema, seq);
        SELECT pg_catalog.string_agg(pg_catalog.format(', %I', a.attname), '' ORDER BY a.attnum) INTO others
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) reloid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND a.attname OPERATOR(pg_catalog.<>) ALL (ARRAY['cartodb_id', 'the_geom', 'the_geom_webmercator',
                                                             COALESCE(geom_src, 'cartodb_id')]::pg_catalog.name[]);
        src := CASE WHEN geom_src IS NOT NULL THEN
                   pg_catalog.format('cartodb._CDB_With_SRID(%I::public.geometry, %s)', geom_src, geom_srid) END;
        EXECUTE pg_catalog.format(
            'CREATE TABLE %I.%I AS SELECT %s AS cartodb_id, %s AS the_geom, %s AS the_geom_webmercator%s FROM %s',
            destschema, tmp,
            CASE WHEN id_usable THEN 'cartodb_id::pg_catalog.int4'
                 ELSE pg_catalog.format('pg_catalog.nextval(%L::pg_catalog.regclass)::pg_catalog.int4',
                                        pg_catalog.format('%I.%I', destschema, seq)) END,
            CASE WHEN src IS NULL THEN 'NULL::public.geometry(Geometry,4326)'
                 ELSE pg_catalog.format('public.ST_Transform(%s, 4326)::public.geometry(Geometry,4326)', src) END,
            CASE WHEN src IS NULL THEN 'NULL::public.geometry(Geometry,3857)'
                 ELSE pg_catalog.format('cartodb.CDB_TransformToWebmercator(%s)::public.geometry(Geometry,3857)', src) END,
            COALESCE(others, ''), reloid);
        target := pg_catalog.format('%I.%I', destschema, tmp)::pg_catalog.regclass;
        EXECUTE pg_catalog.format('SELECT pg_catalog.max(cartodb_id) FROM %s', target) INTO maxid;
        IF maxid IS NOT NULL THEN
            PERFORM pg_catalog.setval(pg_catalog.format('%I.%I', destschema, seq)::pg_catalog.regclass, maxid);
        END IF;
        EXECUTE pg_catalog.format(
            'ALTER TABLE %s ALTER COLUMN cartodb_id SET NOT NULL, ALTER COLUMN cartodb_id SET DEFAULT pg_catalog.nextval(%L::pg_catalog.regclass)',
            target, pg_catalog.format('%I.%I', destschema, seq));
        EXECUTE pg_catalog.format('ALTER SEQUENCE %I.%I OWNED BY %s.cartodb_id', destschema, seq, target);
        -- The table's grants go with it (CARTO's Rails applies them again after a rewrite).
        FOR col IN SELECT g.grantee, g.privilege_type, g.is_grantable
                     FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) g
                    WHERE c.oid OPERATOR(pg_catalog.=) reloid AND g.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
            EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', col.privilege_type, target,
                CASE WHEN col.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(col.grantee)) END,
                CASE WHEN col.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        EXECUTE pg_catalog.format('DROP TABLE %s', reloid);
        EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', target, tname);
    END IF;

    -- 7. Indexes: the primary key on cartodb_id (another one goes), GiST on both geometries.
    SELECT a.attnum INTO id_att FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) target AND a.attname OPERATOR(pg_catalog.=) 'cartodb_id';
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) target
                      AND i.indisprimary AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
                      AND i.indkey[0] OPERATOR(pg_catalog.=) id_att) THEN
        FOR col IN SELECT k.conname FROM pg_catalog.pg_constraint k
                    WHERE k.conrelid OPERATOR(pg_catalog.=) target AND k.contype OPERATOR(pg_catalog.=) 'p' LOOP
            EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', target, col.conname);
        END LOOP;
        EXECUTE pg_catalog.format('ALTER TABLE %s ADD PRIMARY KEY (cartodb_id)', target);
    END IF;
    FOR col IN SELECT a.attname, a.attnum FROM pg_catalog.pg_attribute a
                WHERE a.attrelid OPERATOR(pg_catalog.=) target
                  AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['the_geom', 'the_geom_webmercator']::pg_catalog.name[]) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                         JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
                         JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
                        WHERE i.indrelid OPERATOR(pg_catalog.=) target AND am.amname OPERATOR(pg_catalog.=) 'gist'
                          AND i.indkey[0] OPERATOR(pg_catalog.=) col.attnum) THEN
            EXECUTE pg_catalog.format('CREATE INDEX ON %s USING gist (%I)', target, col.attname);
        END IF;
    END LOOP;

    -- 8. The triggers: the_geom_webmercator in step, the time of the last write recorded.
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER update_the_geom_webmercator_trigger BEFORE INSERT OR UPDATE OF the_geom ON %s '
        'FOR EACH ROW EXECUTE FUNCTION cartodb._CDB_update_the_geom_webmercator()', target);
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER track_updates AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION cartodb.CDB_TableMetadata_Trigger()', target);
    PERFORM cartodb.CDB_TableMetadataTouch(target);
    RETURN target;
END
$fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_CartodbfyTable(reloid pg_catalog.regclass)
RETURNS pg_catalog.regclass
LANGUAGE sql VOLATILE
AS $fn$ SELECT cartodb.CDB_CartodbfyTable('public', reloid) $fn$;
