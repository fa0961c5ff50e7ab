//! Providers and venues in the CSV template: two small sheets beside the course sheet, so a
//! provider who keeps everything in a spreadsheet never needs JSON (see
//! `docs/csv-template.md`). One row per provider or venue, every problem at its row and column.

use crate::csv_template::{parse_date, parse_uuid};
use crate::sheet::{Sheet, yes_no};
use crate::{CellError, FileError};
use prospectus_model::{Accessibility, Address, Provider, Venue};

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
/// or an `online_url` (a virtual room for online courses), not both.
pub const VENUE_COLUMNS: &[&str] = &[
    "venue_id",
    "provider_id",
    "name",
    "address",
    "town",
    "postcode",
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
                    match (lines, town, postcode) {
                        (Some(lines), Some(town), Some((postcode, at))) => Some(Some((
                            Address {
                                lines,
                                town,
                                postcode,
                            },
                            at,
                        ))),
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
