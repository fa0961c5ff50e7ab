//! London boroughs, UK postcode outcode centroids, postcode parsing and great-circle distance.
//!
//! This crate exists so a link worker can type a client's postcode and get "courses within 3 km"
//! and "which borough funds this learner" without any network service or data file to deploy:
//! the borough and outcode tables are compiled in (`include_str!`) and parsed once, lazily, on
//! first use. Resolution is to the outward code ("SE15") only — about a square kilometre in
//! London — which is precise enough for travel distance and deliberately not precise enough to
//! locate a person. See `data/README.md` for the tables' provenance.

use std::collections::HashMap;
use std::sync::OnceLock;

pub use prospectus_model::LatLon;

const BOROUGHS_CSV: &str = include_str!("../data/london-boroughs.csv");
const OUTCODES_CSV: &str = include_str!("../data/uk-outcodes.csv");

/// Mean Earth radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A London local authority (one of the 32 boroughs or the City of London).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Borough {
    /// ONS GSS code, `E09000001` … `E09000033`.
    pub gss_code: &'static str,
    pub name: &'static str,
    /// Outward codes lying mainly within the borough, upper case, in table order.
    pub outcodes: Vec<&'static str>,
}

/// Why a postcode could not be placed on the map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    /// Not shaped like a UK postcode ("SE15 4QF") or outward code ("SE15").
    /// Holds the value as an error shows it: quoted and cut (`prospectus_model::shown`).
    #[error("{0} is not a UK postcode (like \"SE15 4QF\") or outward code (like \"SE15\")")]
    MalformedPostcode(String),
    /// Well formed, but the outward code is not in the centroid table.
    #[error("outward code {0} is not a known UK postcode district")]
    UnknownOutcode(String),
}

struct Tables {
    boroughs: Vec<Borough>,
    centroids: HashMap<&'static str, LatLon>,
    /// Outcode → index into `boroughs`.
    borough_of: HashMap<&'static str, usize>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The tables are part of the binary and covered by the tests below, so a parse failure
        // is a build defect, not bad input: fail loudly rather than serve a partial map.
        let boroughs = parse_boroughs(BOROUGHS_CSV)
            .unwrap_or_else(|e| panic!("embedded london-boroughs.csv is corrupt: {e}"));
        let centroids = parse_outcodes(OUTCODES_CSV)
            .unwrap_or_else(|e| panic!("embedded uk-outcodes.csv is corrupt: {e}"));
        let mut borough_of = HashMap::new();
        for (i, b) in boroughs.iter().enumerate() {
            for o in &b.outcodes {
                borough_of.entry(*o).or_insert(i);
            }
        }
        Tables {
            boroughs,
            centroids,
            borough_of,
        }
    })
}

fn data_lines(text: &'static str) -> impl Iterator<Item = (usize, &'static str)> {
    text.lines()
        .enumerate()
        .skip(1) // header
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn parse_boroughs(text: &'static str) -> Result<Vec<Borough>, String> {
    let mut out = Vec::new();
    for (line, l) in data_lines(text) {
        let mut f = l.splitn(3, ',');
        let (Some(gss), Some(name), Some(outcodes)) = (f.next(), f.next(), f.next()) else {
            return Err(format!("line {line}: expected gss_code,name,outcodes"));
        };
        out.push(Borough {
            gss_code: gss.trim(),
            name: name.trim(),
            outcodes: outcodes.split_whitespace().collect(),
        });
    }
    Ok(out)
}

fn parse_outcodes(text: &'static str) -> Result<HashMap<&'static str, LatLon>, String> {
    let mut out = HashMap::new();
    for (line, l) in data_lines(text) {
        let mut f = l.split(',');
        let (Some(code), Some(lat), Some(lon), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(format!("line {line}: expected outcode,latitude,longitude"));
        };
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|e| format!("line {line}: {s:?}: {e}"))
        };
        let p = LatLon {
            lat: num(lat)?,
            lon: num(lon)?,
        };
        if out.insert(code.trim(), p).is_some() {
            return Err(format!("line {line}: outcode {code} listed twice"));
        }
    }
    Ok(out)
}

/// All 33 London local authorities, in GSS-code order.
pub fn boroughs() -> &'static [Borough] {
    &tables().boroughs
}

/// The borough with this GSS code (`E09000028`), ignoring case and surrounding space.
pub fn borough(gss_code: &str) -> Option<&'static Borough> {
    let code = gss_code.trim();
    boroughs()
        .iter()
        .find(|b| b.gss_code.eq_ignore_ascii_case(code))
}

/// The borough matching a GSS code or a name ("Southwark", "city of london"), ignoring case.
pub fn find_borough(code_or_name: &str) -> Option<&'static Borough> {
    let s = code_or_name.trim();
    borough(s).or_else(|| boroughs().iter().find(|b| b.name.eq_ignore_ascii_case(s)))
}

/// The centroid of an outward code ("SE15", any case), if the table knows it.
pub fn outcode_centroid(outcode: &str) -> Option<LatLon> {
    let key = outcode.trim().to_ascii_uppercase();
    tables().centroids.get(key.as_str()).copied()
}

/// The London borough an outward code mainly lies in; `None` outside London.
pub fn borough_of_outcode(outcode: &str) -> Option<&'static Borough> {
    let key = outcode.trim().to_ascii_uppercase();
    let t = tables();
    t.borough_of.get(key.as_str()).map(|&i| &t.boroughs[i])
}

/// The outward code of a full postcode ("se15 4qf" → "SE15") or of an outward code on its own
/// ("SE15"). Spacing and case are free; the inward code is always the last three characters.
pub fn outward_code(postcode: &str) -> Result<String, GeoError> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !compact.is_ascii() || !prospectus_model::is_valid_postcode(&compact) {
        return Err(GeoError::MalformedPostcode(prospectus_model::shown(
            postcode,
        )));
    }
    if compact.len() <= 4 {
        Ok(compact)
    } else {
        Ok(compact[..compact.len() - 3].to_string())
    }
}

/// The centroid of a postcode's outward code. Accepts a full postcode ("SE15 4QF", any case or
/// spacing) or an outward code ("SE15").
pub fn postcode_centroid(postcode: &str) -> Result<LatLon, GeoError> {
    let out = outward_code(postcode)?;
    outcode_centroid(&out).ok_or(GeoError::UnknownOutcode(out))
}

/// The London borough a postcode (full or outward code) mainly lies in.
pub fn borough_of_postcode(postcode: &str) -> Result<Option<&'static Borough>, GeoError> {
    let out = outward_code(postcode)?;
    if outcode_centroid(&out).is_none() {
        return Err(GeoError::UnknownOutcode(out));
    }
    Ok(borough_of_outcode(&out))
}

/// Great-circle distance between two points, in kilometres (haversine, spherical Earth).
pub fn haversine_km(a: LatLon, b: LatLon) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(p: LatLon, lat: f64, lon: f64, tol: f64) -> bool {
        (p.lat - lat).abs() < tol && (p.lon - lon).abs() < tol
    }

    #[test]
    fn se15_resolves_to_peckham() {
        let p = outcode_centroid("SE15").unwrap();
        assert!(near(p, 51.47, -0.07, 0.01), "{p:?}");
        assert_eq!(outcode_centroid("se15"), Some(p));
        assert_eq!(postcode_centroid("SE15 4QF").unwrap(), p);
        assert_eq!(postcode_centroid("se154qf").unwrap(), p);
        assert_eq!(postcode_centroid("  se15   4QF ").unwrap(), p);
        assert_eq!(postcode_centroid("SE15").unwrap(), p);
    }

    #[test]
    fn outward_code_splits_off_the_inward_code() {
        assert_eq!(outward_code("SE15 4QF").unwrap(), "SE15");
        assert_eq!(outward_code("sw1a1aa").unwrap(), "SW1A");
        assert_eq!(outward_code("M1 1AE").unwrap(), "M1");
        assert_eq!(outward_code("ec1a").unwrap(), "EC1A");
    }

    #[test]
    fn malformed_and_unknown_postcodes_are_told_apart() {
        for bad in [
            "",
            "   ",
            "hello world",
            "SE15 4Q",
            "12345",
            "SE15 ÄQF",
            "SE15 4QFX1",
        ] {
            assert!(
                matches!(postcode_centroid(bad), Err(GeoError::MalformedPostcode(_))),
                "{bad:?} → {:?}",
                postcode_centroid(bad)
            );
        }
        // Well formed, but no such district.
        assert_eq!(
            postcode_centroid("QQ99 9ZZ"),
            Err(GeoError::UnknownOutcode("QQ99".into()))
        );
        assert_eq!(
            postcode_centroid("qq99"),
            Err(GeoError::UnknownOutcode("QQ99".into()))
        );
    }

    #[test]
    fn london_to_manchester_is_about_262_km() {
        let london = LatLon {
            lat: 51.5074,
            lon: -0.1278,
        };
        let manchester = LatLon {
            lat: 53.4808,
            lon: -2.2426,
        };
        let d = haversine_km(london, manchester);
        assert!((d - 262.0).abs() < 5.0, "{d}");
        assert!((haversine_km(manchester, london) - d).abs() < 1e-9);
        assert_eq!(haversine_km(london, london), 0.0);
        // Outcode centroids agree with the city-centre figure.
        let d2 = haversine_km(
            outcode_centroid("EC1A").unwrap(),
            outcode_centroid("M1").unwrap(),
        );
        assert!((d2 - 262.0).abs() < 5.0, "{d2}");
    }

    #[test]
    fn all_33_boroughs_are_present_with_unique_codes() {
        let bs = boroughs();
        assert_eq!(bs.len(), 33);
        for (i, b) in bs.iter().enumerate() {
            assert_eq!(b.gss_code, format!("E09{:06}", i + 1), "{}", b.name);
            assert!(!b.name.is_empty());
            assert!(!b.outcodes.is_empty(), "{} has no outcodes", b.name);
        }
        assert_eq!(borough("e09000028").unwrap().name, "Southwark");
        assert_eq!(borough(" E09000001 ").unwrap().name, "City of London");
        assert!(borough("E09000034").is_none());
        assert_eq!(find_borough("southwark").unwrap().gss_code, "E09000028");
        assert_eq!(find_borough("E09000033").unwrap().name, "Westminster");
        assert!(find_borough("Manchester").is_none());
    }

    /// Every outcode of every borough has a centroid. Observed: all 212 borough outcodes
    /// resolve; if the tables change and some stop resolving, this lists them.
    #[test]
    fn every_borough_outcode_has_a_centroid_inside_london() {
        let mut total = 0;
        let mut missing = Vec::new();
        for b in boroughs() {
            for o in &b.outcodes {
                total += 1;
                match outcode_centroid(o) {
                    None => missing.push(format!("{} {o}", b.name)),
                    Some(p) => {
                        // Greater London's bounding box, generously.
                        assert!((51.25..=51.72).contains(&p.lat), "{o} {p:?}");
                        assert!((-0.56..=0.34).contains(&p.lon), "{o} {p:?}");
                    }
                }
            }
        }
        assert_eq!(total, 212);
        assert_eq!(missing, Vec::<String>::new());
    }

    #[test]
    fn outcodes_map_back_to_their_borough() {
        for b in boroughs() {
            for o in &b.outcodes {
                assert_eq!(borough_of_outcode(o), Some(b));
            }
        }
        assert_eq!(borough_of_outcode("se15").unwrap().name, "Southwark");
        assert!(borough_of_outcode("M1").is_none());
        assert_eq!(
            borough_of_postcode("SE15 4QF").unwrap().unwrap().gss_code,
            "E09000028"
        );
        assert_eq!(borough_of_postcode("M1 1AE").unwrap(), None);
        assert!(borough_of_postcode("nonsense").is_err());
    }

    #[test]
    fn the_outcode_table_is_fully_parsed() {
        let rows = OUTCODES_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty());
        assert_eq!(tables().centroids.len(), rows.count());
        assert_eq!(tables().centroids.len(), 2848);
    }
}
