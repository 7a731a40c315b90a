"""Interop test: the official CARTO Python SDK (carto==1.11.3, pyrestcli==0.6.11)
against carto-emulator.

Reads a cartoframes-style creds file (written by `carto-emulator --write-creds DIR`)
given as the first argument. Exits non-zero on the first failed check.
"""

import json
import sys
import time
import warnings

warnings.simplefilter("ignore")

from carto.api_keys import APIKeyManager  # noqa: E402
from carto.auth import APIKeyAuthClient, AuthAPIClient  # noqa: E402
from carto.exceptions import CartoException  # noqa: E402
from carto.sql import SQLClient  # noqa: E402
from pyrestcli.exceptions import NotFoundException, UnprocessableEntityError  # noqa: E402

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAIL: {what}")
        sys.exit(1)
    checks += 1
    print(f"ok: {what}")


with open(sys.argv[1]) as f:
    creds = json.load(f)
base_url = creds["base_url"].rstrip("/") + "/"
master = creds["api_key"]
username = creds["username"]

auth = APIKeyAuthClient(base_url, master)
check(auth.username == username, "APIKeyAuthClient derives the username from the base URL")
sql = SQLClient(auth)

table = f"interop_{int(time.time() * 1000)}"
sql.send(f"CREATE TABLE {table} (id int, name text)")
res = sql.send(f"INSERT INTO {table} VALUES (1, 'one'), (2, 'two')")
check(res["total_rows"] == 2 and res["rows"] == [], "SQLClient.send POST: INSERT total_rows")
res = sql.send(f"SELECT id, name FROM {table} ORDER BY id", do_post=False)
check(res["rows"] == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}], "SQLClient.send GET: rows")
check("time" in res and res["fields"]["id"]["type"] == "number", "SQL response has time and fields")
res = sql.send(f"SELECT * FROM {table}", format="csv")
check(res.replace(b"\r\n", b"\n").startswith(b"id,name\n"), "SQLClient.send format=csv returns bytes")
try:
    sql.send("SELECT * FROM table_that_does_not_exist")
    check(False, "SQL error raises")
except CartoException as e:
    check("does not exist" in str(e), "SQL error raises CartoException with the server message")

manager = APIKeyManager(auth)
name = f"interop key {table}"
key = manager.create(
    name=name,
    apis=["sql", "maps"],
    tables=[{"schema": "public", "name": table, "permissions": ["select"]}],
)
check(key.type == "regular" and key.token, "APIKeyManager.create returns a regular key with a token")
got = manager.get(name)
check(got.name == name and got.grants.apis == ["sql", "maps"], "APIKeyManager.get by name (with spaces)")
tables = got.grants.tables
check(len(tables) == 1 and tables[0].name == table and tables[0].permissions == ["select"],
      "grants read back with the table permission")

regular = SQLClient(APIKeyAuthClient(base_url, key.token))
res = regular.send(f"SELECT count(*) AS n FROM {table}")
check(res["rows"][0]["n"] == 2, "the regular key reads the granted table")
try:
    regular.send(f"INSERT INTO {table} VALUES (3, 'three')")
    check(False, "regular key insert refused")
except CartoException:
    check(True, "the select-only key cannot insert")

try:
    manager.create(name=name, apis=["sql"])
    check(False, "duplicate name refused")
except UnprocessableEntityError as e:
    check("Name has already been taken" in str(e), "duplicate name gives UnprocessableEntityError")

masters = manager.filter(type="master")
check(len(masters) == 1 and masters[0].type == "master", "filter(type='master')")
both = manager.filter(type="default,master")
check(len(both) == 2, "filter(type='default,master')")
check(len(manager.all()) >= 3, "all() lists master, default and the new key")

old_token = key.token
got.regenerate_token()
check(got.token and got.token != old_token, "regenerate_token changes the token")
check(AuthAPIClient(base_url, got.token).is_valid_api_key(), "is_valid_api_key: new token valid")
check(not AuthAPIClient(base_url, old_token).is_valid_api_key(), "is_valid_api_key: old token invalid")
check(AuthAPIClient(base_url, master).is_valid_api_key(), "is_valid_api_key: master key")
check(AuthAPIClient(base_url, "default_public").is_valid_api_key(), "is_valid_api_key: default_public")
check(not AuthAPIClient(base_url, "wadus").is_valid_api_key(), "is_valid_api_key: unknown token")

got.delete()
try:
    manager.get(name)
    check(False, "deleted key is gone")
except NotFoundException as e:
    check("API key not found" in str(e), "get after delete raises NotFoundException")

# Datasets (the SDK's non-public DatasetManager: /api/v1/viz).
from carto.datasets import DatasetManager  # noqa: E402

datasets = DatasetManager(auth)
listed = [d.name for d in datasets.filter(type="table")]
check(table in listed, "DatasetManager.filter lists the table")
ds = datasets.get(table)
check(ds.name == table and ds.privacy == "PRIVATE", "DatasetManager.get by name: a private dataset")
check(datasets.get(ds.id).name == table, "DatasetManager.get by id")
ds.privacy = "LINK"
ds.save()
check(datasets.get(table).privacy == "LINK", "Dataset.save changes the privacy")
public_sql = SQLClient(APIKeyAuthClient(base_url, "default_public"))
check(public_sql.send(f"SELECT count(*) AS n FROM {table}")["rows"][0]["n"] >= 0,
      "the Default public key reads a link dataset")
ds.privacy = "PRIVATE"
ds.save()
try:
    public_sql.send(f"SELECT count(*) FROM {table}")
    check(False, "the Default public key reads a private dataset")
except CartoException:
    check(True, "the Default public key cannot read a private dataset")
ds.delete()
check(table not in [d.name for d in datasets.filter(type="table")], "Dataset.delete drops the table")
try:
    datasets.get(table)
    check(False, "a deleted dataset is gone")
except (CartoException, NotFoundException) as e:
    check("does not exist" in str(e), "get after delete: not found")
print(f"python interop: {checks} checks passed")
