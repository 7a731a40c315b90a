//! The OIDs of the built-in PostgreSQL types the SQL API converts (fixed in PostgreSQL's
//! catalog, `pg_type.oid`), named as the types are; every other type is a string.

pub(crate) const BOOL: u32 = 16;
pub(crate) const BYTEA: u32 = 17;
pub(crate) const INT8: u32 = 20;
pub(crate) const INT2: u32 = 21;
pub(crate) const INT4: u32 = 23;
pub(crate) const OID: u32 = 26;
pub(crate) const JSON: u32 = 114;
pub(crate) const POINT: u32 = 600;
pub(crate) const FLOAT4: u32 = 700;
pub(crate) const FLOAT8: u32 = 701;
pub(crate) const CIRCLE: u32 = 718;
pub(crate) const DATE: u32 = 1082;
pub(crate) const TIMESTAMP: u32 = 1114;
pub(crate) const TIMESTAMPTZ: u32 = 1184;
pub(crate) const INTERVAL: u32 = 1186;
pub(crate) const NUMERIC: u32 = 1700;
pub(crate) const JSONB: u32 = 3802;

pub(crate) const JSON_ARRAY: u32 = 199;
pub(crate) const CIDR_ARRAY: u32 = 651;
pub(crate) const MONEY_ARRAY: u32 = 791;
pub(crate) const BOOL_ARRAY: u32 = 1000;
pub(crate) const BYTEA_ARRAY: u32 = 1001;
pub(crate) const CHAR_ARRAY: u32 = 1002;
pub(crate) const INT2_ARRAY: u32 = 1005;
pub(crate) const INT4_ARRAY: u32 = 1007;
pub(crate) const REGPROC_ARRAY: u32 = 1008;
pub(crate) const TEXT_ARRAY: u32 = 1009;
pub(crate) const BPCHAR_ARRAY: u32 = 1014;
pub(crate) const VARCHAR_ARRAY: u32 = 1015;
pub(crate) const INT8_ARRAY: u32 = 1016;
pub(crate) const POINT_ARRAY: u32 = 1017;
pub(crate) const FLOAT4_ARRAY: u32 = 1021;
pub(crate) const FLOAT8_ARRAY: u32 = 1022;
pub(crate) const OID_ARRAY: u32 = 1028;
pub(crate) const MACADDR_ARRAY: u32 = 1040;
pub(crate) const INET_ARRAY: u32 = 1041;
pub(crate) const TIMESTAMP_ARRAY: u32 = 1115;
pub(crate) const DATE_ARRAY: u32 = 1182;
pub(crate) const TIME_ARRAY: u32 = 1183;
pub(crate) const TIMESTAMPTZ_ARRAY: u32 = 1185;
pub(crate) const INTERVAL_ARRAY: u32 = 1187;
pub(crate) const NUMERIC_ARRAY: u32 = 1231;
pub(crate) const CSTRING_ARRAY: u32 = 1263;
pub(crate) const TIMETZ_ARRAY: u32 = 1270;
pub(crate) const UUID_ARRAY: u32 = 2951;
pub(crate) const JSONB_ARRAY: u32 = 3807;

// Types the tests name that have no conversion of their own (strings).
#[cfg(test)]
pub(crate) const CHAR: u32 = 18;
#[cfg(test)]
pub(crate) const NAME: u32 = 19;
#[cfg(test)]
pub(crate) const TEXT: u32 = 25;
#[cfg(test)]
pub(crate) const MONEY: u32 = 790;
#[cfg(test)]
pub(crate) const TIME: u32 = 1083;
#[cfg(test)]
pub(crate) const UUID: u32 = 2950;
#[cfg(test)]
pub(crate) const INT4RANGE_ARRAY: u32 = 3905;
