//! Row structs of the store, one per table; conversion to the domain types lives in
//! `crate::model`, so the rest of the daemon never sees JSON-in-TEXT columns.

use super::schema::{health_metrics, servers};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = servers)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct ServerRow {
    pub id: String,
    pub name: String,
    pub type_: String,
    pub image: Option<String>,
    pub status: String,
    pub port: Option<i32>,
    pub container_id: Option<String>,
    pub config: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub command: Option<String>,
    pub args: String,
    pub working_directory: Option<String>,
    pub process_id: Option<i32>,
    pub health_endpoint: Option<String>,
    pub last_health_check: Option<NaiveDateTime>,
    pub health_status: String,
    pub transport: String,
    pub url: Option<String>,
    pub env: String,
    pub secret_env: String,
    pub restart_policy: String,
    pub desired_state: String,
    pub last_exit: Option<String>,
    pub last_error: Option<String>,
    pub restart_count: i32,
    pub generation: i64,
    pub process_group: Option<i32>,
    pub mcp_info: Option<String>,
}

/// The columns a ServerActor writes when its run changes, without touching the definition.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = servers)]
#[diesel(treat_none_as_null = true)]
pub struct RunStateChange {
    pub status: String,
    pub process_id: Option<i32>,
    pub process_group: Option<i32>,
    pub container_id: Option<String>,
    pub last_exit: Option<String>,
    pub last_error: Option<String>,
    pub restart_count: i32,
    pub generation: i64,
    pub updated_at: NaiveDateTime,
}

/// A stored log line (decoded from its block, see `db::logs`).
#[derive(Debug, Clone)]
pub struct LogRow {
    pub id: i32,
    pub server_id: String,
    pub level: String,
    pub message: String,
    pub source: Option<String>,
    pub timestamp: NaiveDateTime,
    pub truncated: bool,
    pub original_level: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = health_metrics)]
pub struct NewHealthRow {
    pub server_id: String,
    pub status: String,
    pub response_time: Option<i32>,
    pub error_message: Option<String>,
    pub timestamp: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = health_metrics)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct HealthRow {
    pub id: i32,
    pub server_id: String,
    pub status: String,
    pub response_time: Option<i32>,
    pub error_message: Option<String>,
    pub timestamp: chrono::NaiveDateTime,
}
