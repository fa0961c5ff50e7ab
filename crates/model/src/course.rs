//! A course (HSDS `service`) and its runs (HSDS `service_at_location` + `schedule`).

use crate::rules::{Fees, Requirement};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Course {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub title: String,
    pub description: String,
    pub categories: Vec<Category>,
    pub level: Level,
    pub delivery: DeliveryMode,
    /// Designed for people with anxiety, low mood or other mental-health needs.
    #[serde(default)]
    pub mental_health_focus: bool,
    #[serde(default)]
    pub support: Vec<Support>,
    /// Language the course is taught in, as an ISO 639-1 code ("en").
    pub language: String,
    pub runs: Vec<Run>,
    pub fees: Fees,
    /// Conditions every learner must meet, each with the documents that prove it.
    #[serde(default)]
    pub eligibility: Vec<Requirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    pub last_verified: NaiveDate,
    /// The rule set the course is funded under; `None`: the node's default (a London node:
    /// the GLA set for the current academic year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding_rules: Option<crate::RuleSetId>,
}

impl Course {
    /// Attendance patterns, derived from the runs' days and times so they can never disagree.
    pub fn attendance(&self) -> Vec<Attendance> {
        let mut out = Vec::new();
        for run in &self.runs {
            for a in run.attendance() {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out.sort();
        out
    }
}

/// One scheduled (or rolling) instance of a course at one venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub id: Uuid,
    pub venue_id: Uuid,
    pub start: Start,
    /// Days the class meets; empty only for self-paced online runs.
    pub days: Vec<Weekday>,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    /// Length in weeks; `None` for an ongoing drop-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weeks: Option<u16>,
    /// Places still free; `None` when the provider does not track it. `Some(0)` is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places_left: Option<u32>,
    /// Typical wait for a place, for full or waiting-list runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_weeks: Option<u16>,
}

/// Evening starts at 17:00: the boundary adult-education prospectuses use.
const EVENING_FROM: (u32, u32) = (17, 0);

impl Run {
    pub fn attendance(&self) -> Vec<Attendance> {
        let mut out = Vec::new();
        let evening = NaiveTime::from_hms_opt(EVENING_FROM.0, EVENING_FROM.1, 0)
            .is_some_and(|t| self.start_time >= t);
        for d in &self.days {
            let a = if d.is_weekend() {
                Attendance::Weekend
            } else if evening {
                Attendance::Evening
            } else {
                Attendance::Daytime
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    pub fn is_full(&self) -> bool {
        self.places_left == Some(0)
    }
}

/// When a run starts: a fixed date, or a rolling/flexible start (join any week).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Start {
    On(NaiveDate),
    Rolling,
}

impl Serialize for Start {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Start::On(d) => s.serialize_str(&d.format("%Y-%m-%d").to_string()),
            Start::Rolling => s.serialize_str("rolling"),
        }
    }
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Two ASCII digits at `i` as a number.
fn digits2(b: &[u8], i: usize) -> Option<u32> {
    let (h, l) = (*b.get(i)?, *b.get(i + 1)?);
    (h.is_ascii_digit() && l.is_ascii_digit())
        .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
}

/// A date as chrono's `%Y-%m-%d` reads it; the common shape (`2026-09-14`) without its
/// format-string interpreter, which was a tenth of decoding a course (every replicated apply and
/// every start-up scan decodes several dates per course).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let ymd = digits2(b, 0)
            .zip(digits2(b, 2))
            .map(|(c, y)| (c * 100 + y) as i32)
            .zip(digits2(b, 5))
            .zip(digits2(b, 8));
        if let Some(d) = ymd.and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d)) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A time as chrono's `%H:%M` (or `%H:%M:%S`) reads it; `09:30` without the interpreter.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() == 5 && b[2] == b':' {
        let hm = digits2(b, 0).zip(digits2(b, 3));
        if let Some(t) = hm.and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0)) {
            return Some(t);
        }
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

impl std::str::FromStr for Start {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("rolling") || s.eq_ignore_ascii_case("flexible") {
            return Ok(Start::Rolling);
        }
        parse_date(s).map(Start::On).ok_or_else(|| {
            format!(
                "expected a date YYYY-MM-DD or \"rolling\", got {}",
                crate::validate::shown(s)
            )
        })
    }
}

/// Declares an enum whose variants have fixed external names, used identically by serde, the
/// CSV template, the CLI and the wire conversion, so a name means the same thing everywhere.
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal / $label:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// Stable machine name (files, URLs, CLI).
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),+ } }
            /// Human label for people reading results.
            pub fn label(self) -> &'static str { match self { $($name::$var => $label),+ } }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| format!(
                        "unknown {} {}; expected one of: {}",
                        stringify!($name).to_lowercase(),
                        $crate::validate::shown(t),
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    ))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// The course taxonomy link workers filter by.
    Category {
        WellbeingMentalHealth = "wellbeing" / "Wellbeing & mental health",
        Esol = "esol" / "ESOL (English for speakers of other languages)",
        English = "english" / "English",
        Maths = "maths" / "Maths",
        Digital = "digital" / "Digital skills",
        ArtsCrafts = "arts-crafts" / "Arts & crafts",
        Gardening = "gardening" / "Gardening",
        Exercise = "exercise" / "Exercise & movement",
        MoneyManagement = "money" / "Money management",
        Employability = "employability" / "Employability",
        Cooking = "cooking" / "Cooking & nutrition",
        Languages = "languages" / "Modern languages",
        Music = "music" / "Music",
        CreativeWriting = "creative-writing" / "Creative writing",
        FamilyLearning = "family-learning" / "Family learning",
        HistoryCulture = "history-culture" / "History & culture",
    }
}

named_enum! {
    /// Qualification level, ordered: non-accredited < Entry < Level 1 < … < Level 7. As a
    /// learner's highest qualification, `NonAccredited` means "no formal qualification".
    Level {
        NonAccredited = "non-accredited" / "Non-accredited",
        Entry = "entry" / "Entry level",
        L1 = "level-1" / "Level 1",
        L2 = "level-2" / "Level 2",
        L3 = "level-3" / "Level 3",
        L4 = "level-4" / "Level 4",
        L5 = "level-5" / "Level 5",
        L6 = "level-6" / "Level 6",
        L7 = "level-7" / "Level 7",
    }
}

named_enum! {
    DeliveryMode {
        Classroom = "classroom" / "In a classroom",
        Online = "online" / "Online",
        Blended = "blended" / "Blended (classroom and online)",
    }
}

named_enum! {
    Attendance {
        Daytime = "daytime" / "Daytime",
        Evening = "evening" / "Evening",
        Weekend = "weekend" / "Weekend",
    }
}

named_enum! {
    /// Support a nervous or disabled learner can count on.
    Support {
        OneToOne = "one-to-one" / "1:1 support",
        CompanionWelcome = "companion-welcome" / "A friend or carer may come along",
        QuietSpace = "quiet-space" / "Quiet space available",
        Creche = "creche" / "Crèche",
        BslInterpreter = "bsl" / "BSL interpreter",
        LearningSupport = "learning-support" / "Learning support assistant",
    }
}

named_enum! {
    Weekday {
        Mon = "mon" / "Monday",
        Tue = "tue" / "Tuesday",
        Wed = "wed" / "Wednesday",
        Thu = "thu" / "Thursday",
        Fri = "fri" / "Friday",
        Sat = "sat" / "Saturday",
        Sun = "sun" / "Sunday",
    }
}

impl Weekday {
    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Sat | Weekday::Sun)
    }
}
