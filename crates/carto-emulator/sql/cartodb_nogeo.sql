-- Without PostGIS the geometry functions of CARTO's table model cannot exist: these
-- stand-ins (same arguments) say so instead of "function does not exist". Replaced by
-- cartodb_geo.sql once PostGIS is there.

CREATE OR REPLACE FUNCTION cartodb._CDB_needs_postgis(what pg_catalog.text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $fn$
BEGIN
    RAISE EXCEPTION '% needs PostGIS, which is not installed in this database', what
        USING ERRCODE = '0A000';
END
$fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_LatLng(lat pg_catalog.numeric, lng pg_catalog.numeric)
RETURNS void LANGUAGE sql IMMUTABLE
AS $fn$ SELECT cartodb._CDB_needs_postgis('CDB_LatLng') $fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_LatLng(lat pg_catalog.float8, lng pg_catalog.float8)
RETURNS void LANGUAGE sql IMMUTABLE
AS $fn$ SELECT cartodb._CDB_needs_postgis('CDB_LatLng') $fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_XYZ_Extent(x pg_catalog.int4, y pg_catalog.int4, z pg_catalog.int4)
RETURNS void LANGUAGE sql IMMUTABLE
AS $fn$ SELECT cartodb._CDB_needs_postgis('CDB_XYZ_Extent') $fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_CartodbfyTable(destschema pg_catalog.text, reloid pg_catalog.regclass)
RETURNS pg_catalog.regclass LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    PERFORM cartodb._CDB_needs_postgis('CDB_CartodbfyTable');
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION cartodb.CDB_CartodbfyTable(reloid pg_catalog.regclass)
RETURNS pg_catalog.regclass LANGUAGE sql VOLATILE
AS $fn$ SELECT cartodb.CDB_CartodbfyTable('public', reloid) $fn$;
