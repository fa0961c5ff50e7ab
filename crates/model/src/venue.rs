//! A venue (HSDS `location` + `address`): where a course run meets, or a virtual room.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Venue {
    pub id: Uuid,
    /// The provider that publishes (and alone may change) this venue.
    pub provider_id: Uuid,
    pub name: String,
    /// A physical venue has an address; a virtual one has `virtual_url` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LatLon>,
    #[serde(default)]
    pub accessibility: Accessibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_url: Option<String>,
}

impl Venue {
    pub fn is_virtual(&self) -> bool {
        self.virtual_url.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub lines: Vec<String>,
    pub town: String,
    pub postcode: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Accessibility {
    pub step_free: bool,
    pub accessible_toilet: bool,
    pub hearing_loop: bool,
    pub parking: bool,
}
