//! A provider (HSDS `organization`): the college, council service or charity that runs courses.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    /// UK Register of Learning Providers number (8 digits, starts with 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ukprn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charity_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// When the provider last confirmed this record is true.
    pub last_verified: NaiveDate,
}
