//! PostGIS and the emulated Data Services geocoder,
//! `cdb_geocode_admin0_polygon(country_name text)`, answering from the admin 0
//! countries shipped in `data/admin0-110m.geojson` (ODbL 1.0, see `data/README.md`).
//!
//! The function lives in `cdb_dataservices_client`, as on CARTO, with a forwarder in
//! `public` so that it is found whatever the session's `search_path`.

use tokio_postgres::Client;

use crate::error::EmulatorError;
use crate::names::{META_SCHEMA, SERVICES_ROLE};

/// The world countries (one feature per country, MultiPolygon, EPSG:4326).
pub const ADMIN0_GEOJSON: &str = include_str!("../data/admin0-110m.geojson");

/// Creates PostGIS in the database when the extension is installed on the server.
/// Returns whether PostGIS is available.
pub(crate) async fn install_postgis(db: &Client) -> Result<bool, EmulatorError> {
    let available = db
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'postgis'",
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
///
/// The function reads the key table to check the caller's `geocoding` grant, so it is
/// `SECURITY DEFINER`, owned by the non-superuser services role (which may read only the
/// `role`, `type` and `grants` columns of the key table and its own country table), with
/// `search_path` pinned to `pg_catalog, pg_temp` and every other name schema-qualified: nothing
/// a key plants in a user schema (an `unnest(text[])` in `public`, an operator) is ever
/// resolved by it.
pub(crate) async fn install(db: &Client) -> Result<(), EmulatorError> {
    db.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS cdb_dataservices_client;
         REVOKE ALL ON SCHEMA cdb_dataservices_client FROM PUBLIC;
         GRANT USAGE ON SCHEMA cdb_dataservices_client TO PUBLIC;
         CREATE TABLE IF NOT EXISTS cdb_dataservices_client.admin0 (
             iso3 pg_catalog.text NOT NULL,
             iso2 pg_catalog.text,
             name pg_catalog.text NOT NULL,
             official_name pg_catalog.text,
             alt_names pg_catalog.text[] NOT NULL,
             the_geom public.geometry(MultiPolygon, 4326) NOT NULL
         );
         ALTER TABLE cdb_dataservices_client.admin0 OWNER TO {services};
         REVOKE ALL ON cdb_dataservices_client.admin0 FROM PUBLIC;
         GRANT USAGE ON SCHEMA {meta} TO {services};
         GRANT SELECT (role, type, grants) ON {meta}.api_keys TO {services};
         CREATE OR REPLACE FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(country_name pg_catalog.text)
         RETURNS public.geometry
         LANGUAGE plpgsql STABLE SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp
         AS $fn$
         DECLARE
             allowed boolean;
             wanted pg_catalog.text := pg_catalog.lower(pg_catalog.btrim(country_name));
             result public.geometry;
         BEGIN
             SELECT pg_catalog.bool_or(k.type OPERATOR(pg_catalog.=) 'master' OR EXISTS (
                        SELECT 1 FROM pg_catalog.jsonb_array_elements(k.grants) g
                        WHERE g OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'dataservices'
                          AND (g OPERATOR(pg_catalog.->) 'services') OPERATOR(pg_catalog.?) 'geocoding'))
               INTO allowed
               FROM {meta}.api_keys k
              WHERE k.role OPERATOR(pg_catalog.=) SESSION_USER;
             IF allowed IS NOT TRUE THEN
                 RAISE EXCEPTION 'Geocoding permission denied' USING ERRCODE = '01007';
             END IF;
             SELECT a.the_geom INTO result
               FROM cdb_dataservices_client.admin0 a
              WHERE wanted OPERATOR(pg_catalog.=) pg_catalog.lower(a.iso3)
                 OR wanted OPERATOR(pg_catalog.=) pg_catalog.lower(a.iso2)
                 OR wanted OPERATOR(pg_catalog.=) pg_catalog.lower(a.name)
                 OR wanted OPERATOR(pg_catalog.=) pg_catalog.lower(a.official_name)
                 OR EXISTS (SELECT 1 FROM pg_catalog.unnest(a.alt_names) x
                            WHERE pg_catalog.lower(x) OPERATOR(pg_catalog.=) wanted)
              LIMIT 1;
             RETURN result;
         END
         $fn$;
         ALTER FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(pg_catalog.text) OWNER TO {services};
         REVOKE ALL ON FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(pg_catalog.text) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION cdb_dataservices_client.cdb_geocode_admin0_polygon(pg_catalog.text) TO PUBLIC;
         CREATE OR REPLACE FUNCTION public.cdb_geocode_admin0_polygon(country_name pg_catalog.text)
         RETURNS public.geometry
         LANGUAGE sql STABLE
         SET search_path = pg_catalog, pg_temp
         AS $fn$ SELECT cdb_dataservices_client.cdb_geocode_admin0_polygon(country_name) $fn$;
         ALTER FUNCTION public.cdb_geocode_admin0_polygon(pg_catalog.text) OWNER TO {services};
         REVOKE ALL ON FUNCTION public.cdb_geocode_admin0_polygon(pg_catalog.text) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION public.cdb_geocode_admin0_polygon(pg_catalog.text) TO PUBLIC;",
        meta = crate::ident::quote_ident(META_SCHEMA),
        services = crate::ident::quote_ident(SERVICES_ROLE),
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
                    ARRAY(SELECT pg_catalog.jsonb_array_elements_text(coalesce(f->'properties'->'alt_names', '[]'::jsonb))),
                    public.ST_Multi(public.ST_SetSRID(public.ST_GeomFromGeoJSON(f->>'geometry'), 4326))
             FROM pg_catalog.jsonb_array_elements($1::text::jsonb->'features') f",
            &[&ADMIN0_GEOJSON],
        )
        .await?;
    }
    Ok(())
}
