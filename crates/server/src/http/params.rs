//! Query parameters of the ORUK list endpoints, parsed once into `Params`; each bad value is
//! a 400 naming its parameter.

use super::error::{ApiError, bad};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use chrono::{DateTime, NaiveDate, NaiveTime};
use prospectus_model::{Uuid, Weekday, shown};
use prospectus_search::{MAX_TEXT_BYTES, MAX_WORDS};

pub(super) const DEFAULT_PER_PAGE: u64 = 50;
pub(super) const MAX_PER_PAGE: u64 = 1000;

/// Parsed query parameters. Unknown parameters are ignored (ORUK clients send extras).
#[derive(Debug, Default, Clone)]
pub(super) struct Params {
    pub(super) search: Vec<String>,
    pub(super) page: u64,
    pub(super) per_page: u64,
    pub(super) taxonomy_term_id: Option<Uuid>,
    pub(super) taxonomy_id: Option<Uuid>,
    pub(super) organization_id: Option<Uuid>,
    pub(super) modified_after: Option<i64>,
    pub(super) minimal: bool,
    pub(super) full: bool,
    pub(super) full_service: bool,
    pub(super) ndjson: bool,
    pub(super) minimum_age: Option<u8>,
    pub(super) maximum_age: Option<u8>,
    pub(super) day: Option<Weekday>,
    pub(super) start_time: Option<NaiveTime>,
    pub(super) end_time: Option<NaiveTime>,
    pub(super) postcode: Option<(f64, f64)>,
    pub(super) proximity_m: Option<f64>,
    pub(super) parent_id: Option<Uuid>,
}

pub(super) fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(
            name,
            format!("expected true or false, got {}", shown(v)),
        )),
    }
}

pub(super) fn parse_uuid(name: &str, v: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(v.trim()).map_err(|_| bad(name, format!("expected a UUID, got {}", shown(v))))
}

pub(super) fn parse_time(name: &str, v: &str) -> Result<NaiveTime, ApiError> {
    let v = v.trim();
    NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .map_err(|_| bad(name, format!("expected a time HH:MM, got {}", shown(v))))
}

pub(super) fn parse_day(v: &str) -> Result<Weekday, ApiError> {
    let t = v.trim().to_ascii_lowercase();
    Weekday::ALL
        .iter()
        .copied()
        .find(|d| {
            let s = d.as_str();
            let label = d.label().to_ascii_lowercase();
            t == s || t == label || (t.len() == 2 && s.starts_with(&t))
        })
        .ok_or_else(|| {
            bad(
                "day",
                format!(
                    "expected a weekday (mon…sun, MO…SU or Monday…), got {}",
                    shown(v)
                ),
            )
        })
}

pub(super) fn parse_datetime(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    Err(bad(
        name,
        format!(
            "expected an RFC 3339 date-time or YYYY-MM-DD, got {}",
            shown(v)
        ),
    ))
}

pub(super) fn parse_u64(name: &str, v: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(
            name,
            format!("expected an integer from {min} to {max}, got {}", shown(v)),
        )),
    }
}

/// The words of `search=`, bounded as the index bounds free text, for every endpoint (the
/// ones that filter by substring as much as the ones that ask the index).
fn parse_search(name: &str, v: &str) -> Result<Vec<String>, ApiError> {
    if v.len() > MAX_TEXT_BYTES {
        return Err(bad(
            name,
            format!(
                "is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                v.len()
            ),
        ));
    }
    let words: Vec<String> = v.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > MAX_WORDS {
        return Err(bad(
            name,
            format!(
                "has {} words; at most {MAX_WORDS} are accepted",
                words.len()
            ),
        ));
    }
    Ok(words)
}

pub(super) fn parse_params(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Params, ApiError> {
    let Query(pairs) = q.map_err(|e| bad("query", e.body_text()))?;
    let mut p = Params {
        page: 1,
        per_page: DEFAULT_PER_PAGE,
        ..Default::default()
    };
    let mut postcode: Option<String> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "search" | "text" => p.search = parse_search(k, v)?,
            "page" => p.page = parse_u64("page", v, 1, u64::from(u32::MAX))?,
            "per_page" => p.per_page = parse_u64("per_page", v, 1, MAX_PER_PAGE)?,
            "taxonomy_term_id" => p.taxonomy_term_id = Some(parse_uuid(k, v)?),
            "taxonomy_id" => p.taxonomy_id = Some(parse_uuid(k, v)?),
            "organization_id" => p.organization_id = Some(parse_uuid(k, v)?),
            "parent_id" => p.parent_id = Some(parse_uuid(k, v)?),
            "modified_after" => p.modified_after = Some(parse_datetime(k, v)?),
            "minimal" => p.minimal = parse_bool(k, v)?,
            "full" => p.full = parse_bool(k, v)?,
            "full_service" => p.full_service = parse_bool(k, v)?,
            "format" => {
                p.ndjson = match v.trim().to_ascii_lowercase().as_str() {
                    "json" | "" => false,
                    "ndjson" => true,
                    _ => {
                        return Err(bad(
                            "format",
                            format!("expected json or ndjson, got {}", shown(v)),
                        ));
                    }
                }
            }
            "minimum_age" => p.minimum_age = Some(parse_u64(k, v, 0, 150)? as u8),
            "maximum_age" => p.maximum_age = Some(parse_u64(k, v, 0, 150)? as u8),
            "day" => p.day = Some(parse_day(v)?),
            "start_time" => p.start_time = Some(parse_time(k, v)?),
            "end_time" => p.end_time = Some(parse_time(k, v)?),
            "postcode" => postcode = Some(v.clone()),
            "proximity" => {
                let m: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| {
                        bad(
                            "proximity",
                            format!("expected metres > 0, got {}", shown(v)),
                        )
                    })?;
                p.proximity_m = Some(m);
            }
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (p.minimum_age, p.maximum_age)
        && a > b
    {
        return Err(bad("minimum_age", "minimum_age is above maximum_age"));
    }
    if let Some(pc) = postcode {
        let c = prospectus_geo::postcode_centroid(&pc)
            // The error quotes the value cut short (`shown`).
            .map_err(|e| bad("postcode", e.to_string()))?;
        p.postcode = Some((c.lat, c.lon));
    } else if p.proximity_m.is_some() {
        return Err(bad("proximity", "proximity needs a postcode"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_in_every_spelling() {
        for s in ["mon", "MO", "Monday", "monday"] {
            assert_eq!(parse_day(s).ok(), Some(Weekday::Mon), "{s}");
        }
        assert!(parse_day("funday").is_err());
    }
}
