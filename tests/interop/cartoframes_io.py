"""cartoframes 1.2.5's I/O functions against a carto-emulator, unchanged.

Usage: python cartoframes_io.py CREDS_JSON  (the file `carto-emulator --write-creds` wrote).
Each step checks what CARTO would answer; any failure raises and exits non-zero.
"""
import sys
import warnings

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from cartoframes import (create_table_from_query, delete_table, describe_table, list_tables,
                         read_carto, rename_table, to_carto, update_privacy_table)
from cartoframes.auth import Credentials

warnings.simplefilter("ignore")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def main(creds_path):
    creds = Credentials.from_file(creds_path)
    for leftover in ("cf_points", "cf_copy", "cf_renamed"):
        delete_table(leftover, credentials=creds)

    gdf = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "value": [1.5, 2.5, None]},
        geometry=[Point(1, 2), Point(-3.7, 40.4), None],
        crs="epsg:4326",
    )
    name = to_carto(gdf, "cf_points", credentials=creds)
    check(name == "cf_points", "to_carto names the table")

    back = read_carto("cf_points", credentials=creds)
    check(len(back) == 3, "read_carto reads every row")
    check(set(back.columns) >= {"cartodb_id", "the_geom", "name", "value"},
          "the table is cartodbfied (cartodb_id, the_geom)")
    check(sorted(back["cartodb_id"].tolist()) == [1, 2, 3], "cartodb_id numbers the rows")
    madrid = back[back["name"] == "b"].geometry.iloc[0]
    check(abs(madrid.x + 3.7) < 1e-9 and abs(madrid.y - 40.4) < 1e-9,
          "geometries come back as written")

    merc = read_carto("SELECT name, ST_X(the_geom_webmercator) AS x FROM cf_points WHERE name = 'a'",
                      credentials=creds)
    check(abs(merc["x"].iloc[0] - 111319.49) < 0.01, "the_geom_webmercator follows the_geom")

    # Replace with other columns: CDB_RegenerateTable, then cartodbfy again.
    df2 = pd.DataFrame({"lat": [10.0], "lng": [20.0], "label": ["x"]})
    gdf2 = gpd.GeoDataFrame(df2, geometry=gpd.points_from_xy(df2.lng, df2.lat), crs="epsg:4326")
    to_carto(gdf2, "cf_points", credentials=creds, if_exists="replace")
    again = read_carto("cf_points", credentials=creds)
    check(len(again) == 1 and "label" in again.columns and "value" not in again.columns,
          "to_carto(if_exists='replace') with other columns")

    create_table_from_query("SELECT * FROM cf_points", "cf_copy", credentials=creds)
    copy = read_carto("cf_copy", credentials=creds)
    check(len(copy) == 1 and "cartodb_id" in copy.columns, "create_table_from_query: a cartodbfied table")

    tables = list_tables(credentials=creds)
    check(set(tables["tables"]) >= {"cf_points", "cf_copy"}, "list_tables lists both")

    info = describe_table("cf_points", credentials=creds)
    check(info["privacy"] == "PRIVATE", "describe_table: a new table is private")
    check(info["num_rows"] == 1, "describe_table counts rows")
    check(info["geom_type"] == "point", "describe_table: geometry type")

    update_privacy_table("cf_points", "public", credentials=creds)
    check(describe_table("cf_points", credentials=creds)["privacy"] == "PUBLIC",
          "update_privacy_table: public")
    public = Credentials(username=creds.username, base_url=creds.base_url, api_key="default_public",
                         allow_non_secure=True)
    check(len(read_carto("cf_points", credentials=public)) == 1,
          "the Default public key reads a public table")
    update_privacy_table("cf_points", "link", credentials=creds)
    check(describe_table("cf_points", credentials=creds)["privacy"] == "LINK",
          "update_privacy_table: link")
    update_privacy_table("cf_points", "private", credentials=creds)
    check(describe_table("cf_points", credentials=creds)["privacy"] == "PRIVATE",
          "update_privacy_table: private")
    try:
        read_carto("cf_points", credentials=public)
        raise AssertionError("the Default public key read a private table")
    except AssertionError:
        raise
    except Exception:
        print("ok: the Default public key cannot read a private table")

    rename_table("cf_copy", "cf_renamed", credentials=creds)
    tables = set(list_tables(credentials=creds)["tables"])
    check("cf_renamed" in tables and "cf_copy" not in tables, "rename_table")

    delete_table("cf_renamed", credentials=creds)
    delete_table("cf_points", credentials=creds)
    tables = set(list_tables(credentials=creds)["tables"])
    check(not tables & {"cf_renamed", "cf_points"}, "delete_table")
    print("cartoframes interop: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
