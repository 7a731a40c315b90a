use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::grants::{
    Api, DatabaseGrant, Grant, Grants, SchemaGrant, SchemaPermission, Service, TableGrant,
    TablePermission, UserData,
};
use super::timestamp::Timestamp;
use crate::error::Error;
use crate::token::Token;

/// The type of an API key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyType {
    /// The account's master key: everything.
    Master,
    /// The Default public key (`default_public`): reads public tables.
    Default,
    /// A regular key with explicit grants.
    Regular,
}

impl ApiKeyType {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Default => "default",
            Self::Regular => "regular",
        }
    }
}

impl std::fmt::Display for ApiKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ApiKeyType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "master" => Ok(Self::Master),
            "default" => Ok(Self::Default),
            "regular" => Ok(Self::Regular),
            other => Err(Error::invalid(
                "API key type",
                format!("unknown type `{other}`; expected master, default or regular"),
            )),
        }
    }
}

/// The owner of a key, as the Auth API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyUser {
    /// The username.
    pub username: String,
}

/// An API key as the Auth API returns it. Unknown fields are ignored; `Debug` redacts
/// the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key's name (`Master`, `Default public`, or the name it was created with).
    pub name: String,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ApiKeyUser>,
    /// The key type.
    #[serde(rename = "type")]
    pub key_type: ApiKeyType,
    /// The secret token.
    pub token: Token,
    /// The grants, re-derived by CARTO from the database.
    pub grants: Grants,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When the key was last changed (its token regenerated, for example).
    pub updated_at: Timestamp,
    /// Hypermedia links (`self`), present in list pages.
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<serde_json::Value>,
}

/// A link in a list page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The absolute URL (treat it as opaque: it may repeat the request's parameters).
    pub href: String,
}

/// The `_links` of a list page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLinks {
    /// The first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Link>,
    /// The previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Link>,
    /// The next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
    /// The last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Link>,
}

/// One page of `GET /api/v3/api_keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyPage {
    /// Keys matching the filter, over all pages.
    pub total: u64,
    /// Keys in this page.
    pub count: u64,
    /// The keys of this page.
    pub result: Vec<ApiKey>,
    /// Links to other pages.
    #[serde(rename = "_links", default)]
    pub links: PageLinks,
}

/// The body of `POST /api/v3/api_keys`: a name and grants, validated by
/// [`NewApiKeyBuilder::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiKey {
    /// The key's name.
    pub name: String,
    /// The grants.
    pub grants: Grants,
}

impl NewApiKey {
    /// The longest name CARTO stores, in characters (its `name` column is `varchar(255)`).
    pub const MAX_NAME_CHARS: usize = 255;

    /// Starts a regular key named `name`, granted the SQL and Maps APIs unless
    /// [`NewApiKeyBuilder::apis`] says otherwise.
    pub fn builder(name: impl Into<String>) -> NewApiKeyBuilder {
        NewApiKeyBuilder {
            name: name.into(),
            apis: None,
            tables: Vec::new(),
            schemas: Vec::new(),
            table_metadata: false,
            services: BTreeSet::new(),
            user_data: BTreeSet::new(),
            datasets: Vec::new(),
        }
    }
}

/// Builds a [`NewApiKey`]; [`build`](Self::build) rejects what CARTO would reject.
#[derive(Debug, Clone)]
pub struct NewApiKeyBuilder {
    name: String,
    apis: Option<Vec<Api>>,
    tables: Vec<TableGrant>,
    schemas: Vec<String>,
    table_metadata: bool,
    services: BTreeSet<Service>,
    user_data: BTreeSet<UserData>,
    datasets: Vec<String>,
}

impl NewApiKeyBuilder {
    /// Sets the granted APIs (an empty list is allowed: the key can then use none).
    pub fn apis(mut self, apis: impl IntoIterator<Item = Api>) -> Self {
        let mut list: Vec<Api> = Vec::new();
        for api in apis {
            if !list.contains(&api) {
                list.push(api);
            }
        }
        self.apis = Some(list);
        self
    }

    /// Grants `permissions` on `schema.table`. Grants on the same table are merged.
    pub fn table(
        mut self,
        schema: impl Into<String>,
        table: impl Into<String>,
        permissions: impl IntoIterator<Item = TablePermission>,
    ) -> Self {
        self.tables
            .push(TableGrant::new(schema, table, permissions));
        self
    }

    /// Adds a table grant.
    pub fn table_grant(mut self, grant: TableGrant) -> Self {
        self.tables.push(grant);
        self
    }

    /// Grants `CREATE` on `schema`: the key may create tables there.
    pub fn schema_create(mut self, schema: impl Into<String>) -> Self {
        self.schemas.push(schema.into());
        self
    }

    /// Adds the (empty) `table_metadata` grant.
    pub fn table_metadata(mut self) -> Self {
        self.table_metadata = true;
        self
    }

    /// Grants data services.
    pub fn services(mut self, services: impl IntoIterator<Item = Service>) -> Self {
        self.services.extend(services);
        self
    }

    /// Grants access to the user profile.
    pub fn user_profile(mut self) -> Self {
        self.user_data.insert(UserData::Profile);
        self
    }

    /// Grants Data Observatory datasets.
    pub fn datasets<S: Into<String>>(mut self, datasets: impl IntoIterator<Item = S>) -> Self {
        self.datasets.extend(datasets.into_iter().map(Into::into));
        self
    }

    /// Validates and builds the request body. Rejected, with the reason: an empty or
    /// reserved name (`Master`, `Default public`), a name longer than
    /// [`NewApiKey::MAX_NAME_CHARS`] characters, an empty schema or table name, a table
    /// grant without permissions or with a permission CARTO does not grant
    /// (`references`, `trigger`, `truncate`), an empty schema name, an empty dataset id.
    pub fn build(self) -> Result<NewApiKey, Error> {
        let name = self.name;
        if name.trim().is_empty() {
            return Err(Error::invalid("API key name", "the name is empty"));
        }
        let chars = name.chars().count();
        if chars > NewApiKey::MAX_NAME_CHARS {
            return Err(Error::invalid(
                "API key name",
                format!(
                    "the name has {chars} characters; CARTO stores at most {}",
                    NewApiKey::MAX_NAME_CHARS
                ),
            ));
        }
        if name == "Master" || name == "Default public" {
            return Err(Error::invalid(
                "API key name",
                format!("`{name}` is reserved for CARTO's own keys"),
            ));
        }
        let mut tables: Vec<TableGrant> = Vec::new();
        for grant in self.tables {
            if grant.schema.trim().is_empty() || grant.name.trim().is_empty() {
                return Err(Error::invalid(
                    "table grant",
                    "schema and table name must not be empty",
                ));
            }
            if grant.permissions.is_empty() {
                return Err(Error::invalid(
                    "table grant",
                    format!("no permissions for {}.{}", grant.schema, grant.name),
                ));
            }
            if let Some(p) = grant.permissions.iter().find(|p| !p.is_grantable()) {
                return Err(Error::invalid(
                    "table grant",
                    format!("`{p}` cannot be granted; use select, insert, update or delete"),
                ));
            }
            match tables
                .iter_mut()
                .find(|t| t.schema == grant.schema && t.name == grant.name)
            {
                Some(existing) => {
                    for p in grant.permissions {
                        if !existing.permissions.contains(&p) {
                            existing.permissions.push(p);
                        }
                    }
                }
                None => {
                    let mut grant = grant;
                    grant.owner = None;
                    let mut seen = Vec::new();
                    grant.permissions.retain(|p| {
                        let new = !seen.contains(p);
                        seen.push(*p);
                        new
                    });
                    tables.push(grant);
                }
            }
        }
        let mut schemas: Vec<SchemaGrant> = Vec::new();
        for schema in self.schemas {
            if schema.trim().is_empty() {
                return Err(Error::invalid("schema grant", "the schema name is empty"));
            }
            if !schemas.iter().any(|s| s.name == schema) {
                schemas.push(SchemaGrant {
                    name: schema,
                    permissions: vec![SchemaPermission::Create],
                });
            }
        }
        if self.datasets.iter().any(|d| d.trim().is_empty()) {
            return Err(Error::invalid(
                "data-observatory grant",
                "a dataset id is empty",
            ));
        }
        let mut grants = vec![Grant::Apis {
            apis: self.apis.unwrap_or_else(|| vec![Api::Sql, Api::Maps]),
        }];
        if !tables.is_empty() || !schemas.is_empty() || self.table_metadata {
            grants.push(Grant::Database(DatabaseGrant {
                tables,
                schemas,
                table_metadata: self.table_metadata.then(Vec::new),
            }));
        }
        if !self.services.is_empty() {
            grants.push(Grant::DataServices {
                services: self.services.into_iter().collect(),
            });
        }
        if !self.user_data.is_empty() {
            grants.push(Grant::User {
                data: self.user_data.into_iter().collect(),
            });
        }
        if !self.datasets.is_empty() {
            grants.push(Grant::DataObservatory {
                datasets: self.datasets,
            });
        }
        Ok(NewApiKey {
            name,
            grants: Grants(grants),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_happy_path() {
        let key = NewApiKey::builder("k")
            .table("public", "t", [TablePermission::Select])
            .table(
                "public",
                "t",
                [TablePermission::Insert, TablePermission::Select],
            )
            .schema_create("public")
            .services([Service::Geocoding])
            .build()
            .unwrap();
        let json = serde_json::to_value(&key).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name":"k","grants":[
                {"type":"apis","apis":["sql","maps"]},
                {"type":"database","tables":[{"schema":"public","name":"t","permissions":["select","insert"]}],
                 "schemas":[{"name":"public","permissions":["create"]}]},
                {"type":"dataservices","services":["geocoding"]}]})
        );
    }

    #[test]
    fn names_up_to_255_characters() {
        // Characters, not bytes: 255 two-byte characters are fine.
        let name = "é".repeat(NewApiKey::MAX_NAME_CHARS);
        assert_eq!(NewApiKey::builder(name.clone()).build().unwrap().name, name);
    }

    #[test]
    fn apis_array_always_sent_and_required() {
        // Even with no APIs, the `apis` section carries its array (CARTO refuses one
        // without it).
        let key = NewApiKey::builder("k").apis([]).build().unwrap();
        assert_eq!(
            serde_json::to_value(&key).unwrap()["grants"][0],
            serde_json::json!({"type": "apis", "apis": []})
        );
        // And a request read back without it does not parse.
        let err = serde_json::from_value::<NewApiKey>(
            serde_json::json!({"name": "k", "grants": [{"type": "apis"}]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing field `apis`"), "{err}");
    }

    #[test]
    fn builder_rejects() {
        let err = |b: NewApiKeyBuilder| b.build().unwrap_err().to_string();
        assert!(err(NewApiKey::builder(" ")).contains("empty"));
        assert!(err(NewApiKey::builder("Master")).contains("reserved"));
        let long = "é".repeat(NewApiKey::MAX_NAME_CHARS + 1);
        assert!(err(NewApiKey::builder(long)).contains("256 characters"));
        assert!(
            err(NewApiKey::builder("k").table("", "t", [TablePermission::Select]))
                .contains("empty")
        );
        assert!(err(NewApiKey::builder("k").table("s", "t", [])).contains("no permissions"));
        assert!(
            err(NewApiKey::builder("k").table("s", "t", [TablePermission::Truncate]))
                .contains("truncate")
        );
        assert!(err(NewApiKey::builder("k").schema_create("")).contains("empty"));
        assert!(
            "read"
                .parse::<TablePermission>()
                .unwrap_err()
                .to_string()
                .contains("select")
        );
    }
}
