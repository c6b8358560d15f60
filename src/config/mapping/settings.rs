//! The configuration keys of a source's mapping (`[sources.NAME.auth]`, `.paging`, `.dossiers`,
//! `.procedures`, `.documents`), as serde reads them. Every key has a default, and the defaults
//! are the contract (`../shared/spec/upstream-api.md`): a source without any of these tables is
//! read exactly as before. docs/mapping.md explains each key for administrators; validation of
//! their values lives with the sources (`crate::upstream::mapping::validate_source`), which
//! compile them. This module holds the keys only: it must never fetch or transform a record.

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// How dondoc proves who it is to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthStyle {
    /// The source's `token` in a header (`Authorization: Bearer …` by default); none when no
    /// token is set. The contract's style.
    #[default]
    Bearer,
    /// HTTP basic authentication with `username` and `password`.
    Basic,
    /// A login call (POST of username and password) answering a session token, renewed when it
    /// expires or when a request answers 401.
    Login,
}

/// How the login call sends the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoginBody {
    /// A JSON object (the national portal's style).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// `[sources.NAME.auth]`.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(default)]
    pub style: AuthStyle,
    #[serde(default)]
    pub username: Option<String>,
    /// Prefer `password_file` or `DONDOC__SOURCES__NAME__AUTH__PASSWORD`.
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The header that carries the token (bearer and login styles).
    #[serde(default = "default_header")]
    pub header: String,
    /// What precedes the token in that header; `""` for the bare token (an API key header).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Login style: the path (under `base_url`) that the credentials are POSTed to.
    #[serde(default)]
    pub login_path: Option<String>,
    #[serde(default)]
    pub login_body: LoginBody,
    #[serde(default = "default_username_field")]
    pub username_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    /// Fixed extra fields of the login body (a client id, an application code).
    #[serde(default)]
    pub login_fields: BTreeMap<String, String>,
    /// JSON pointer of the token in the login answer.
    #[serde(default = "default_token_pointer")]
    pub token_pointer: String,
    /// JSON pointer of the token's lifetime in seconds in the login answer, when it gives one.
    #[serde(default)]
    pub expires_pointer: Option<String>,
    /// The token's lifetime when the answer does not say (none: until a request answers 401).
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
}

fn default_header() -> String {
    "Authorization".into()
}
fn default_scheme() -> String {
    "Bearer".into()
}
fn default_username_field() -> String {
    "username".into()
}
fn default_password_field() -> String {
    "password".into()
}
fn default_token_pointer() -> String {
    "/token".into()
}

/// How a list is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PagingStyle {
    /// The contract's: an opaque `next_cursor` that continues after the last record served.
    #[default]
    Cursor,
    /// `offset` + `limit`, usually with a total count.
    Offset,
    /// A page number + a page size.
    Page,
}

impl PagingStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            PagingStyle::Cursor => "cursor",
            PagingStyle::Offset => "offset",
            PagingStyle::Page => "page",
        }
    }
}

/// `[sources.NAME.paging]`.
#[derive(Debug, Clone, Deserialize)]
pub struct PagingSettings {
    #[serde(default)]
    pub style: PagingStyle,
    /// The page size parameter (every style).
    #[serde(default = "default_limit_param")]
    pub limit_param: String,
    /// Cursor style: the parameter that carries the cursor.
    #[serde(default = "default_cursor_param")]
    pub cursor_param: String,
    /// Cursor style: JSON pointer of the next cursor in an answer.
    #[serde(default = "default_next_cursor")]
    pub next_cursor: String,
    /// Offset style: the parameter of the first record's position (from 0).
    #[serde(default = "default_offset_param")]
    pub offset_param: String,
    /// Page style: the page number parameter.
    #[serde(default = "default_page_param")]
    pub page_param: String,
    /// Page style: the number of the first page (1 or 0).
    #[serde(default = "default_first_page")]
    pub first_page: u64,
    /// JSON pointer of the total number of records of the query, when the answer gives it.
    #[serde(default)]
    pub total: Option<String>,
    /// Page style: JSON pointer of the number of pages, when the answer gives it.
    #[serde(default)]
    pub pages: Option<String>,
    /// The incremental parameter; `""` when the source has none (every pass reads everything).
    #[serde(default = "default_updated_since_param")]
    pub updated_since_param: String,
    /// The date format of that parameter.
    #[serde(default = "default_compact")]
    pub updated_since_format: String,
    /// Fixed parameters sent with every list request (a sort order, a unit filter).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Offset and page styles: how far the source's clock may lag dondoc's. A record whose update
    /// time falls less than this before a read began counts as changed during it.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
    /// Offset and page styles: complete reads of one window in a pass before dondoc gives up on
    /// a window that keeps changing (its mark then stays, and the next pass reads it again).
    #[serde(default = "default_max_reads")]
    pub max_reads: u32,
}

impl Default for PagingSettings {
    fn default() -> Self {
        Self {
            style: PagingStyle::Cursor,
            limit_param: default_limit_param(),
            cursor_param: default_cursor_param(),
            next_cursor: default_next_cursor(),
            offset_param: default_offset_param(),
            page_param: default_page_param(),
            first_page: default_first_page(),
            total: None,
            pages: None,
            updated_since_param: default_updated_since_param(),
            updated_since_format: default_compact(),
            query: BTreeMap::new(),
            clock_skew_secs: default_clock_skew(),
            max_reads: default_max_reads(),
        }
    }
}

fn default_limit_param() -> String {
    "limit".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}
fn default_next_cursor() -> String {
    "/next_cursor".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_first_page() -> u64 {
    1
}
fn default_updated_since_param() -> String {
    "updated_since".into()
}
pub(crate) fn default_compact() -> String {
    "yyyyMMddHHmmss".into()
}
fn default_clock_skew() -> u64 {
    5
}
fn default_max_reads() -> u32 {
    3
}

/// `[sources.NAME.dossiers]`, `.procedures` or `.documents`: where one list is and how its
/// records become the contract's.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ListMapping {
    /// HTTP: the list's path under `base_url` (default: the contract's `ho-so`, `thu-tuc`,
    /// `van-ban`).
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP: JSON pointer of the records' array in an answer (default `/data`; `""` when the
    /// answer is the array itself).
    #[serde(default)]
    pub records: Option<String>,
    /// HTTP: whether the list is paged (default: yes for dossiers and documents, no for the
    /// procedure catalogue).
    #[serde(default)]
    pub paged: Option<bool>,
    /// The date format of every date field of this list that does not name its own.
    #[serde(default)]
    pub date_format: Option<Formats>,
    /// Contract field → where it comes from. A contract field left out is read from the field
    /// (or column) of its own contract name, when there is one.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// Import: the sheet of an .xlsx file (default: the first).
    #[serde(default)]
    pub sheet: Option<String>,
    /// Import: the row of the column headers, from 1 (default: the first row, among the first
    /// 20, that holds the key column's header).
    #[serde(default)]
    pub header_row: Option<usize>,
    /// Import: the separator of a .csv file (default: guessed among `,` `;` tab from the header).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Import: a file name pattern (`*` and `?`) that files of this list match; by default a
    /// file belongs to the first list whose key column is in its header row.
    #[serde(default)]
    pub files: Option<String>,
}

/// One date format, or several tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats(pub Vec<String>);

impl<'de> Deserialize<'de> for Formats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Formats;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a date format such as \"dd/MM/yyyy HH:mm:ss\", or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Formats, E> {
                Ok(Formats(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Formats, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Formats(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value of a value map, a default or a constant: a code, a text or a flag.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MapValue {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl MapValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            MapValue::Int(n) => serde_json::Value::from(*n),
            MapValue::Bool(b) => serde_json::Value::from(i64::from(*b)),
            MapValue::Text(s) => serde_json::Value::from(s.clone()),
        }
    }
}

/// Where one contract field comes from: a JSON pointer (HTTP) or a column header (import), or a
/// table with more.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSpec {
    From(String),
    Table(FieldTable),
}

/// The long form of a [`FieldSpec`].
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct FieldTable {
    /// The JSON pointer (HTTP) or column header (import). For a list or an object field, where
    /// its array (or object) is; left out, the record itself is the one element.
    #[serde(default)]
    pub from: Option<String>,
    /// A date field's format(s).
    #[serde(default)]
    pub format: Option<Formats>,
    /// The vendor's values → the contract's (codes, flags, `DEN`/`DI`).
    #[serde(default)]
    pub map: Option<BTreeMap<String, MapValue>>,
    /// The contract value when the vendor's is absent.
    #[serde(default)]
    pub default: Option<MapValue>,
    /// A constant contract value: the vendor has no such field.
    #[serde(default)]
    pub value: Option<MapValue>,
    /// A list or object field: its own fields, with pointers relative to one element.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, FieldSpec>>,
}

impl FieldSpec {
    pub fn table(&self) -> FieldTable {
        match self {
            FieldSpec::From(s) => FieldTable {
                from: Some(s.clone()),
                ..FieldTable::default()
            },
            FieldSpec::Table(t) => t.clone(),
        }
    }
}

// A hand-written Deserialize rather than `#[serde(untagged)]`: untagged enums buffer their input,
// and the loader's unknown-key report (serde_ignored) would then miss a typo inside the table.
impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON pointer or column header, or a table { from = …, … }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec::From(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                FieldTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FieldSpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}
