//! Providers and venues in the CSV template: two small sheets beside the course sheet, so a
//! provider who keeps everything in a spreadsheet never needs JSON (see
//! `docs/csv-template.md`). One row per provider or venue, every problem at its row and column.

use crate::csv_template::{parse_date, parse_uuid, push_cell};
use crate::sheet::{Sheet, yes_no};
use crate::{CellError, FileError};
use prospectus_model::{Accessibility, Address, LatLon, Provider, Venue};

/// The providers sheet's columns (any order; the optional ones may be left out).
pub const PROVIDER_COLUMNS: &[&str] = &[
    "provider_id",
    "name",
    "ukprn",
    "charity_number",
    "description",
    "email",
    "phone",
    "website",
    "last_verified",
];

/// The venues sheet's columns. A venue has an address (lines `;`-separated, town, postcode)
/// or an `online_url` (a virtual room for online courses), not both. `lat`/`lon` (optional)
/// place it exactly; without them it is placed at its postcode district's centre.
pub const VENUE_COLUMNS: &[&str] = &[
    "venue_id",
    "provider_id",
    "name",
    "address",
    "town",
    "postcode",
    "lat",
    "lon",
    "online_url",
    "step_free",
    "accessible_toilet",
    "hearing_loop",
    "parking",
];

/// Records read from a sheet, with the file row of each.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRows<T> {
    pub records: Vec<T>,
    pub rows: Vec<usize>,
}

fn finish<T>(
    records: Vec<T>,
    rows: Vec<usize>,
    errs: Vec<CellError>,
) -> Result<CsvRows<T>, FileError> {
    if errs.is_empty() {
        Ok(CsvRows { records, rows })
    } else {
        Err(FileError::Cells(errs))
    }
}

fn text(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// Reads the providers sheet.
pub fn read_providers_csv(input: &str) -> Result<CsvRows<Provider>, FileError> {
    let mut errs = Vec::new();
    let (mut records, mut rows) = (Vec::new(), Vec::new());
    let required = ["provider_id", "name", "last_verified"];
    if let Some(sheet) = Sheet::read(input, &[PROVIDER_COLUMNS], &required, &mut errs) {
        for i in 0..sheet.rows.len() {
            let mut c = sheet.cells(i, &mut errs);
            let id = c.required("provider_id", parse_uuid);
            let name = c.required("name", text);
            let last_verified = c.required("last_verified", parse_date);
            let [ukprn, charity_number, description, email, phone, website] = [
                "ukprn",
                "charity_number",
                "description",
                "email",
                "phone",
                "website",
            ]
            .map(|col| {
                Some(c.raw(col))
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            });
            if let (Some(id), Some(name), Some(last_verified)) = (id, name, last_verified) {
                records.push(Provider {
                    id,
                    name,
                    ukprn,
                    charity_number,
                    description,
                    email,
                    phone,
                    website,
                    last_verified,
                });
                rows.push(c.row);
            }
        }
    }
    finish(records, rows, errs)
}

/// Reads the venues sheet; a physical venue is placed on the map by its postcode.
pub fn read_venues_csv(input: &str) -> Result<CsvRows<Venue>, FileError> {
    let mut errs = Vec::new();
    let (mut records, mut rows) = (Vec::new(), Vec::new());
    let required = ["venue_id", "provider_id", "name"];
    if let Some(sheet) = Sheet::read(input, &[VENUE_COLUMNS], &required, &mut errs) {
        for i in 0..sheet.rows.len() {
            let mut c = sheet.cells(i, &mut errs);
            let id = c.required("venue_id", parse_uuid);
            let provider_id = c.required("provider_id", parse_uuid);
            let name = c.required("name", text);
            let online = c.optional("online_url", text);
            let [step_free, accessible_toilet, hearing_loop, parking] =
                ["step_free", "accessible_toilet", "hearing_loop", "parking"]
                    .map(|col| c.optional(col, yes_no).map(|v| v.unwrap_or(false)));
            let physical = !c.raw("postcode").is_empty() || !c.raw("address").is_empty();
            let place = match online.clone() {
                Some(Some(_)) if physical => {
                    c.fail(
                        "online_url",
                        "a venue is either online or has an address, not both",
                    );
                    None
                }
                Some(Some(_)) => Some(None),
                Some(None) => {
                    let lines: Option<Vec<String>> = Some(
                        crate::rules_text::split_list(c.raw("address"))
                            .map(str::to_string)
                            .collect(),
                    );
                    let town = c.required("town", text);
                    let postcode = c.required("postcode", |s| {
                        prospectus_geo::postcode_centroid(s)
                            .map(|at| (s.to_ascii_uppercase(), at))
                            .map_err(|e| e.to_string())
                    });
                    let number = |s: &str| {
                        s.parse::<f64>()
                            .map_err(|_| format!("{} is not a number", prospectus_model::shown(s)))
                    };
                    let exact = match (c.optional("lat", number), c.optional("lon", number)) {
                        (Some(Some(lat)), Some(Some(lon))) => Some(Some(LatLon { lat, lon })),
                        (Some(None), Some(None)) => Some(None),
                        (Some(_), Some(_)) => {
                            c.fail("lon", "give both lat and lon, or neither");
                            None
                        }
                        _ => None,
                    };
                    match (lines, town, postcode, exact) {
                        (Some(lines), Some(town), Some((postcode, at)), Some(exact)) => {
                            Some(Some((
                                Address {
                                    lines,
                                    town,
                                    postcode,
                                },
                                exact.unwrap_or(at),
                            )))
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            let (Some(id), Some(provider_id), Some(name), Some(place), Some(online)) =
                (id, provider_id, name, place, online)
            else {
                continue;
            };
            let (Some(step_free), Some(accessible_toilet), Some(hearing_loop), Some(parking)) =
                (step_free, accessible_toilet, hearing_loop, parking)
            else {
                continue;
            };
            let (address, location) = match place {
                Some((a, at)) => (Some(a), Some(at)),
                None => (None, None),
            };
            records.push(Venue {
                id,
                provider_id,
                name,
                address,
                location,
                accessibility: Accessibility {
                    step_free,
                    accessible_toilet,
                    hearing_loop,
                    parking,
                },
                virtual_url: online,
            });
            rows.push(c.row);
        }
    }
    finish(records, rows, errs)
}

/// The providers-sheet column of a field path `validate_record` reports for a provider.
pub fn provider_column(field: &str) -> &'static str {
    let head = field.split(['.', '[']).next().unwrap_or("");
    match head {
        "id" => "provider_id",
        _ => PROVIDER_COLUMNS
            .iter()
            .find(|c| **c == head)
            .copied()
            .unwrap_or("provider_id"),
    }
}

/// The venues-sheet column of a field path `validate_record` reports for a venue.
pub fn venue_column(field: &str) -> &'static str {
    match field.split(['.', '[']).collect::<Vec<_>>().as_slice() {
        ["id", ..] => "venue_id",
        ["address", "lines", ..] => "address",
        ["address", "town", ..] => "town",
        ["address", "postcode", ..] | ["location", ..] => "postcode",
        ["virtual_url", ..] => "online_url",
        ["accessibility", c, ..] => VENUE_COLUMNS
            .iter()
            .find(|x| *x == c)
            .copied()
            .unwrap_or("venue_id"),
        [head, ..] => VENUE_COLUMNS
            .iter()
            .find(|x| *x == head)
            .copied()
            .unwrap_or("venue_id"),
        [] => "venue_id",
    }
}

/// One CSV line of `cells`, quoted where needed.
fn push_row<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, c.as_ref());
    }
    out.push('\n');
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Writes the providers sheet (what [`read_providers_csv`] reads back unchanged).
pub fn write_providers_csv(providers: &[Provider]) -> String {
    let mut out = String::new();
    push_row(&mut out, PROVIDER_COLUMNS);
    for p in providers {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        push_row(
            &mut out,
            &[
                p.id.to_string(),
                p.name.clone(),
                opt(&p.ukprn),
                opt(&p.charity_number),
                opt(&p.description),
                opt(&p.email),
                opt(&p.phone),
                opt(&p.website),
                p.last_verified.to_string(),
            ],
        );
    }
    out
}

/// Writes the venues sheet (what [`read_venues_csv`] reads back unchanged).
pub fn write_venues_csv(venues: &[Venue]) -> String {
    let mut out = String::new();
    push_row(&mut out, VENUE_COLUMNS);
    for v in venues {
        let (lines, town, postcode) = match &v.address {
            Some(a) => (a.lines.join(";"), a.town.clone(), a.postcode.clone()),
            None => Default::default(),
        };
        let (lat, lon) = match (&v.address, v.location) {
            (Some(_), Some(at)) => (at.lat.to_string(), at.lon.to_string()),
            _ => Default::default(),
        };
        let a = v.accessibility;
        push_row(
            &mut out,
            &[
                v.id.to_string(),
                v.provider_id.to_string(),
                v.name.clone(),
                lines,
                town,
                postcode,
                lat,
                lon,
                v.virtual_url.clone().unwrap_or_default(),
                yes(a.step_free),
                yes(a.accessible_toilet),
                yes(a.hearing_loop),
                yes(a.parking),
            ],
        );
    }
    out
}
