use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(crate::Error::invalid(
                        stringify!($name),
                        format!("unknown value `{other}`; expected one of: {}", [$($wire),+].join(", ")),
                    )),
                }
            }
        }
    };
}

wire_enum!(
    /// A CARTO API a key may use (`apis` grant).
    Api {
        /// The SQL API (also Batch and COPY).
        Sql = "sql",
        /// The Maps API.
        Maps = "maps",
        /// The Data Observatory API.
        Do = "do",
    }
);

wire_enum!(
    /// A table privilege. Keys may be granted `select`, `insert`, `update`, `delete`; the
    /// other three appear in responses for tables the key itself owns.
    TablePermission {
        /// `SELECT`.
        Select = "select",
        /// `INSERT`.
        Insert = "insert",
        /// `UPDATE`.
        Update = "update",
        /// `DELETE`.
        Delete = "delete",
        /// `REFERENCES` (owned tables only).
        References = "references",
        /// `TRIGGER` (owned tables only).
        Trigger = "trigger",
        /// `TRUNCATE` (owned tables only).
        Truncate = "truncate",
    }
);

impl TablePermission {
    /// The permissions a key can be granted on a table.
    pub const GRANTABLE: &'static [TablePermission] =
        &[Self::Insert, Self::Select, Self::Update, Self::Delete];

    /// Whether the Auth API accepts this permission in a create request.
    pub fn is_grantable(&self) -> bool {
        Self::GRANTABLE.contains(self)
    }
}

wire_enum!(
    /// A schema privilege: `create` can be granted; `usage` is reported back.
    SchemaPermission {
        /// `CREATE` on the schema (the key can create tables there).
        Create = "create",
        /// `USAGE` on the schema (reported for schemas of granted tables).
        Usage = "usage",
    }
);

wire_enum!(
    /// A data service (`dataservices` grant).
    Service {
        /// Geocoding functions, e.g. `cdb_geocode_admin0_polygon`.
        Geocoding = "geocoding",
        /// Routing functions.
        Routing = "routing",
        /// Isoline functions.
        Isolines = "isolines",
        /// Data Observatory functions.
        Observatory = "observatory",
    }
);

wire_enum!(
    /// User data a key may read (`user` grant).
    UserData {
        /// The user profile.
        Profile = "profile",
    }
);

/// A table grant: permissions on `schema.name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableGrant {
    /// The schema (`public` for individual users, the username for organization users).
    pub schema: String,
    /// The table name.
    pub name: String,
    /// Reported by CARTO: whether the key owns the table (it created it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<bool>,
    /// The permissions.
    pub permissions: Vec<TablePermission>,
}

impl TableGrant {
    /// A grant of `permissions` on `schema.name`.
    pub fn new(
        schema: impl Into<String>,
        name: impl Into<String>,
        permissions: impl IntoIterator<Item = TablePermission>,
    ) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
            owner: None,
            permissions: permissions.into_iter().collect(),
        }
    }
}

/// A schema grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaGrant {
    /// The schema.
    pub name: String,
    /// The permissions.
    pub permissions: Vec<SchemaPermission>,
}

/// The `database` grant: tables, schemas and table metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseGrant {
    /// Table grants.
    #[serde(default)]
    pub tables: Vec<TableGrant>,
    /// Schema grants.
    #[serde(default)]
    pub schemas: Vec<SchemaGrant>,
    /// Table metadata grant (opaque; present only when requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_metadata: Option<Vec<serde_json::Value>>,
}

/// One element of a key's `grants` array, tagged by `type`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Grant {
    /// `{"type":"apis","apis":[...]}`
    #[serde(rename = "apis")]
    Apis {
        /// The APIs.
        apis: Vec<Api>,
    },
    /// `{"type":"database","tables":[...],"schemas":[...]}`
    #[serde(rename = "database")]
    Database(DatabaseGrant),
    /// `{"type":"dataservices","services":[...]}`
    #[serde(rename = "dataservices")]
    DataServices {
        /// The services.
        services: Vec<Service>,
    },
    /// `{"type":"user","data":["profile"]}`
    #[serde(rename = "user")]
    User {
        /// The user data.
        data: Vec<UserData>,
    },
    /// `{"type":"data-observatory","datasets":[...]}`
    #[serde(rename = "data-observatory")]
    DataObservatory {
        /// Dataset ids.
        datasets: Vec<String>,
    },
}

/// A key's grants, as the ordered array CARTO sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grants(pub Vec<Grant>);

impl Grants {
    /// The granted APIs.
    pub fn apis(&self) -> &[Api] {
        self.0
            .iter()
            .find_map(|g| match g {
                Grant::Apis { apis } => Some(apis.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The database grant, if any.
    pub fn database(&self) -> Option<&DatabaseGrant> {
        self.0.iter().find_map(|g| match g {
            Grant::Database(d) => Some(d),
            _ => None,
        })
    }

    /// The table grants.
    pub fn tables(&self) -> &[TableGrant] {
        self.database()
            .map(|d| d.tables.as_slice())
            .unwrap_or_default()
    }

    /// The schema grants.
    pub fn schemas(&self) -> &[SchemaGrant] {
        self.database()
            .map(|d| d.schemas.as_slice())
            .unwrap_or_default()
    }

    /// The granted data services.
    pub fn services(&self) -> &[Service] {
        self.0
            .iter()
            .find_map(|g| match g {
                Grant::DataServices { services } => Some(services.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The granted Data Observatory datasets.
    pub fn datasets(&self) -> &[String] {
        self.0
            .iter()
            .find_map(|g| match g {
                Grant::DataObservatory { datasets } => Some(datasets.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The granted user data.
    pub fn user_data(&self) -> &[UserData] {
        self.0
            .iter()
            .find_map(|g| match g {
                Grant::User { data } => Some(data.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether `permission` on `schema.table` is granted.
    pub fn allows_table(&self, schema: &str, table: &str, permission: TablePermission) -> bool {
        self.tables()
            .iter()
            .any(|t| t.schema == schema && t.name == table && t.permissions.contains(&permission))
    }
}
