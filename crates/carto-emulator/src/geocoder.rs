//! PostGIS and the emulated Data Services geocoder,
//! `cdb_geocode_admin0_polygon(country_name text)`, answering from the admin 0
//! countries shipped in `data/admin0-110m.geojson` (ODbL 1.0, see `data/README.md`).
//!
//! The function lives in `cdb_dataservices_client`, as on CARTO, with a forwarder in
//! `public` so that it is found whatever the session's `search_path`.

use tokio_postgres::Client;

use crate::error::EmulatorError;
use crate::store::META_SCHEMA;

/// The world countries (one feature per country, MultiPolygon, EPSG:4326).
pub const ADMIN0_GEOJSON: &str = include_str!("../data/admin0-110m.geojson");

/// Creates PostGIS in the database when the extension is installed on the server.
/// Returns whether PostGIS is available.
pub(crate) async fn install_postgis(db: &Client) -> Result<bool, EmulatorError> {
    let available = db
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'",
            &[],
        )
        .await?
        .is_some();
    if available {
        db.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public")
            .await?;
    }
    Ok(available)
}

/// Installs the geocoder (schema `cdb_dataservices_client`, the country table and the
/// function). Needs PostGIS. Idempotent.
pub(crate) async fn install(db: &Client) -> Result<(), EmulatorError> {
    db.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS cdb_dataservices_client;
         GRANT USAGE ON SCHEMA cdb_dataservices_client TO PUBLIC;
         CREATE TABLE IF NOT EXISTS cdb_dataservices_client.admin0 (
             iso3 text NOT NULL,
             iso2 text,
             name text NOT NULL,
             official_name text,
             alt_names text[] NOT NULL,
             the_geom geometry(MultiPolygon, 4326) NOT NULL
         );
         REVOKE ALL ON cdb_dataservices_client.admin0 FROM PUBLIC;
         CREATE OR REPLACE FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(country_name text)
         RETURNS public.geometry
         LANGUAGE plpgsql STABLE SECURITY DEFINER
         SET search_path = pg_catalog, public
         AS $fn$
         DECLARE
             allowed boolean;
             result public.geometry;
         BEGIN
             SELECT bool_or(k.type = 'master' OR EXISTS (
                        SELECT 1 FROM jsonb_array_elements(k.grants) g
                        WHERE g->>'type' = 'dataservices' AND (g->'services') ? 'geocoding'))
               INTO allowed
               FROM {meta}.api_keys k
              WHERE k.role = session_user;
             IF allowed IS NOT TRUE THEN
                 RAISE EXCEPTION 'Geocoding permission denied' USING ERRCODE = '01007';
             END IF;
             SELECT a.the_geom INTO result
               FROM cdb_dataservices_client.admin0 a
              WHERE lower(trim(country_name)) IN (lower(a.iso3), lower(a.iso2), lower(a.name), lower(a.official_name))
                 OR lower(trim(country_name)) = ANY (SELECT lower(x) FROM unnest(a.alt_names) x)
              LIMIT 1;
             RETURN result;
         END
         $fn$;
         GRANT EXECUTE ON FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(text) TO PUBLIC;
         CREATE OR REPLACE FUNCTION public.cdb_geocode_admin0_polygon(country_name text)
         RETURNS public.geometry
         LANGUAGE sql STABLE
         AS $fn$ SELECT cdb_dataservices_client.cdb_geocode_admin0_polygon(country_name) $fn$;
         GRANT EXECUTE ON FUNCTION public.cdb_geocode_admin0_polygon(text) TO PUBLIC;",
        meta = crate::ident::quote_ident(META_SCHEMA),
    ))
    .await?;
    let loaded = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM cdb_dataservices_client.admin0)",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    if !loaded {
        db.execute(
            "INSERT INTO cdb_dataservices_client.admin0 (iso3, iso2, name, official_name, alt_names, the_geom)
             SELECT f->'properties'->>'iso3', f->'properties'->>'iso2', f->'properties'->>'name',
                    f->'properties'->>'official_name',
                    ARRAY(SELECT jsonb_array_elements_text(coalesce(f->'properties'->'alt_names', '[]'::jsonb))),
                    public.ST_Multi(public.ST_SetSRID(public.ST_GeomFromGeoJSON(f->>'geometry'), 4326))
             FROM jsonb_array_elements($1::text::jsonb->'features') f",
            &[&ADMIN0_GEOJSON],
        )
        .await?;
    }
    Ok(())
}
