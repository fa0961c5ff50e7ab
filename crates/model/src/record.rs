//! The three replicated record kinds behind one enum, so storage and replication stay generic.

use crate::{Course, Provider, Venue};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The replication unit's kind. The numeric values are part of the stored key and wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Provider = 1,
    Venue = 2,
    Course = 3,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [RecordKind::Provider, RecordKind::Venue, RecordKind::Course];

    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Provider),
            2 => Some(Self::Venue),
            3 => Some(Self::Course),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Venue => "venue",
            Self::Course => "course",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Provider(Provider),
    Venue(Venue),
    Course(Course),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Provider(_) => RecordKind::Provider,
            Record::Venue(_) => RecordKind::Venue,
            Record::Course(_) => RecordKind::Course,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Record::Provider(p) => p.id,
            Record::Venue(v) => v.id,
            Record::Course(c) => c.id,
        }
    }

    /// The provider that owns the record: a provider owns itself.
    pub fn provider_id(&self) -> Uuid {
        match self {
            Record::Provider(p) => p.id,
            Record::Venue(v) => v.provider_id,
            Record::Course(c) => c.provider_id,
        }
    }
}
