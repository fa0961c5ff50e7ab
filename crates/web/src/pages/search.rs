//! The search page: the course query, the optional "about this client" form, and the results.
//!
//! Three forms, never nested: the course query (GET, so it works without JavaScript — but
//! POST once a client is described, carrying the client's facts in hidden fields so they never
//! reach a URL), the client form (always POST), and the result list (POST to the hand-out,
//! with the ticked course ids).

use super::controls::{self, Text, checkboxes, hidden, options, select, tick};
use super::course::card;
use super::layout::page;
use crate::form::{
    Benefits, ClientForm, OUTSIDE_LONDON, RADII_MILES, SearchForm, SortBy, TimeOfDay, WITHIN_WEEKS,
};
use crate::query_string;
use crate::view::{Results, SearchPage};
use maud::{Markup, html};
use prospectus_model::{Attendance, Category, Employment, Level, Weekday};

/// Teaching languages offered in the filter (ISO 639-1), the ones London's offer uses.
const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("bn", "Bengali"),
    ("pl", "Polish"),
    ("so", "Somali"),
    ("tr", "Turkish"),
    ("ur", "Urdu"),
    ("ar", "Arabic"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
];

fn search_form(f: &SearchForm, client: Option<&ClientForm>, errors: &[crate::FormError]) -> Markup {
    let method = if client.is_some() { "post" } else { "get" };
    let categories = options(
        Some("Any category"),
        Category::ALL,
        |c| c.as_str(),
        |c| c.label(),
    );
    let days = options(None, Weekday::ALL, |d| d.as_str(), |d| d.label());
    let attendance = options(None, Attendance::ALL, |a| a.as_str(), |a| a.label());
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let radii: Vec<(String, String)> = std::iter::once((String::new(), "Within 2 miles".into()))
        .chain(
            RADII_MILES
                .iter()
                .map(|r| (r.to_string(), format!("Within {r} miles"))),
        )
        .collect();
    let within: Vec<(String, String)> = std::iter::once((String::new(), "Any start date".into()))
        .chain(
            WITHIN_WEEKS
                .iter()
                .map(|w| (w.to_string(), format!("Starts within {w} weeks"))),
        )
        .collect();
    let times: Vec<(String, String)> = TimeOfDay::ALL
        .iter()
        .map(|(_, v, l)| (v.to_string(), l.to_string()))
        .collect();
    let sorts: Vec<(String, String)> = SortBy::ALL
        .iter()
        .map(|(_, v, l)| (v.to_string(), l.to_string()))
        .collect();
    let languages: Vec<(String, String)> = std::iter::once((String::new(), "Any language".into()))
        .chain(owned(LANGUAGES))
        .collect();
    let checked_days: Vec<String> = f.days.iter().map(|d| d.as_str().to_string()).collect();
    let checked_att: Vec<String> = f
        .attendance
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    let delivery = match f.delivery {
        Some(crate::form::Delivery::InPerson) => "in-person",
        Some(crate::form::Delivery::Online) => "online",
        None => "",
    };
    let max_fee = f.max_fee_pounds.map(|p| p.to_string()).unwrap_or_default();
    html! {
        form #search-form method=(method) action="/find" novalidate {
            h2."nhsuk-heading-m" { "Search courses" }
            @if let Some(c) = client { (hidden(&c.pairs())) }
            (controls::text(Text { id: "q", name: "q", label: "Words", hint: Some("For example: anxiety, confidence, computers"),
                value: &f.text, width_class: "nhsuk-u-width-full", inputmode: None, autocomplete: "off" }, errors))
            (select("category", "Category", &categories, f.category.map_or("", |c| c.as_str()), errors))
            (controls::text(Text { id: "postcode", name: "postcode", label: "Near postcode", hint: Some("For example: SE15 or SE15 4QF"),
                value: &f.postcode, width_class: "nhsuk-input--width-10", inputmode: None, autocomplete: "off" }, errors))
            (select("radius", "Distance", &radii, &f.radius_miles.map(|r| r.to_string()).unwrap_or_default(), errors))
            (checkboxes("day", "Days they can make", &days, &checked_days, errors))
            (select("time", "Time of day", &times, f.time.as_str(), errors))
            (checkboxes("attendance", "Attendance", &attendance, &checked_att, errors))
            (select("delivery", "In person or online", &owned(&[("", "Either"), ("in-person", "In person"), ("online", "Online")]), delivery, errors))
            (select("within", "Starts", &within, &f.within_weeks.map(|w| w.to_string()).unwrap_or_default(), errors))
            (controls::text(Text { id: "max_fee", name: "max_fee", label: "Most they can pay (£)", hint: None,
                value: &max_fee, width_class: "nhsuk-input--width-5", inputmode: Some("numeric"), autocomplete: "off" }, errors))
            div.nhsuk-form-group {
                fieldset.nhsuk-fieldset {
                    legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--s" { "Only show" }
                    (tick("free", "Free courses", f.free_only))
                    (tick("rolling", "Courses they can join any week", f.rolling_only))
                    (tick("mh", "Courses with a mental health focus", f.mental_health))
                    (tick("step_free", "Step-free venues", f.step_free))
                }
            }
            (select("language", "Taught in", &languages, &f.language, errors))
            (select("sort", "Order", &sorts, f.sort.as_str(), errors))
            button.nhsuk-button type="submit" { "Search" }
        }
    }
}

fn client_form(f: &SearchForm, c: Option<&ClientForm>, errors: &[crate::FormError]) -> Markup {
    let blank = ClientForm::default();
    let c = c.unwrap_or(&blank);
    let boroughs: Vec<(String, String)> = std::iter::once((String::new(), "Not asked".into()))
        .chain(
            prospectus_geo::boroughs()
                .iter()
                .map(|b| (b.gss_code.to_string(), b.name.to_string())),
        )
        .chain(std::iter::once((
            OUTSIDE_LONDON.to_string(),
            "Outside London".into(),
        )))
        .collect();
    let employment = options(
        Some("Not asked"),
        Employment::ALL,
        |e| e.as_str(),
        |e| e.label(),
    );
    let benefits: Vec<(String, String)> = Benefits::ALL
        .iter()
        .map(|(_, v, l)| (v.to_string(), l.to_string()))
        .collect();
    let quals = options(
        Some("Not asked"),
        Level::ALL,
        |l| l.as_str(),
        |l| match l {
            Level::NonAccredited => "No formal qualification",
            other => other.label(),
        },
    );
    let age = c.age.map(|a| a.to_string()).unwrap_or_default();
    let earnings = c.earnings_pounds.map(|p| p.to_string()).unwrap_or_default();
    html! {
        form #client-form method="post" action="/find" novalidate {
            (hidden(&f.pairs()))
            details.nhsuk-details open[c != &blank || errors.iter().any(|e| e.field.starts_with("client_"))] {
                summary."nhsuk-details__summary" { span."nhsuk-details__summary-text" { "About this client (optional)" } }
                div."nhsuk-details__text" {
                    p."nhsuk-body-s" { "To see what they would pay and what to bring. Not stored, not logged, never put in a web address." }
                    (controls::text(Text { id: "client_age", name: "client_age", label: "Age", hint: None,
                        value: &age, width_class: "nhsuk-input--width-3", inputmode: Some("numeric"), autocomplete: "off" }, errors))
                    (select("client_borough", "Borough they live in", &boroughs, c.borough.as_deref().unwrap_or(""), errors))
                    (select("client_employment", "Work", &employment, c.employment.map_or("", |e| e.as_str()), errors))
                    (select("client_benefits", "Benefits", &benefits, c.benefits.as_str(), errors))
                    (controls::text(Text { id: "client_earnings", name: "client_earnings", label: "Yearly earnings before tax (£), if in work", hint: None,
                        value: &earnings, width_class: "nhsuk-input--width-10", inputmode: Some("numeric"), autocomplete: "off" }, errors))
                    (select("client_qualification", "Highest qualification", &quals, c.qualification.map_or("", |l| l.as_str()), errors))
                    div.nhsuk-form-group { (tick("client_referred", "Referred by a social prescriber", c.referred)) }
                    button.nhsuk-button."nhsuk-button--secondary" type="submit" { "Show what this client would pay" }
                }
            }
        }
    }
}

/// A GET link to the search with one change to the query, and a page cursor.
fn href_with(
    f: &SearchForm,
    change: impl FnOnce(&mut SearchForm),
    after: Option<&String>,
) -> String {
    let mut q = f.clone();
    change(&mut q);
    let mut pairs = q.pairs();
    if let Some(a) = after {
        pairs.push(("after", a.clone()));
    }
    format!("/find?{}", query_string(&pairs))
}

fn facets(r: &Results<'_>, f: &SearchForm, client: bool) -> Markup {
    html! {
        @if !r.facets.categories.is_empty() {
            h2."nhsuk-heading-s" { "By category" }
            ul."nhsuk-list"."app-facets" {
                @for (c, n) in &r.facets.categories {
                    li {
                        @if client || f.category == Some(*c) { (c.label()) " (" (n) ")" } @else {
                            a href=(href_with(f, |q| q.category = Some(*c), None)) { (c.label()) " (" (n) ")" }
                        }
                    }
                }
            }
        }
    }
}

fn results(r: &Results<'_>, p: &SearchPage<'_>) -> Markup {
    let client = p.client;
    html! {
        h2."nhsuk-heading-m" #results-heading {
            (r.total) @if r.total == 1 { " course found" } @else { " courses found" }
        }
        @if r.total == 0 {
            p { "No course matches all of that. Try fewer words, a wider distance or fewer filters." }
        }
        form #results-form method="post" action="/find/sheet" {
            @if let Some(c) = client {
                (hidden(&c.pairs()))
                // Opening a course posts this form: the course page links back to these results.
                (hidden(&p.form.pairs()))
            }
            ol."nhsuk-list"."app-results" aria-labelledby="results-heading" {
                @for v in &r.courses { (card(v, client, p.today)) }
            }
            @if !r.courses.is_empty() {
                button.nhsuk-button type="submit" data-sheet-button { "Print a sheet of the ticked courses" }
            }
        }
        nav."nhsuk-pagination" role="navigation" aria-label="Results pages" {
            ul."nhsuk-list"."nhsuk-pagination__list" {
                @if r.paged {
                    li."nhsuk-pagination-item--previous" {
                        @if client.is_some() {
                            button."app-link-button" type="submit" form="search-form" { "First page" }
                        } @else {
                            a."nhsuk-pagination__link" href={ "/find?" (query_string(&p.form.pairs())) } { "First page" }
                        }
                    }
                }
                @if let Some(next) = &r.next {
                    li."nhsuk-pagination-item--next" {
                        @if client.is_some() {
                            button."app-link-button" type="submit" form="search-form" name="after" value=(next) { "Next page" }
                        } @else {
                            a."nhsuk-pagination__link" href=(href_with(p.form, |_| {}, Some(next))) { "Next page" }
                        }
                    }
                }
            }
        }
    }
}

/// The whole search page.
pub fn search_page(p: &SearchPage<'_>) -> Markup {
    page(
        "Find a course for a client",
        &p.errors,
        html! {
            h1 { "Find a course for a client" }
            div."nhsuk-grid-row" {
                div."nhsuk-grid-column-one-third" {
                    (search_form(p.form, p.client, &p.errors))
                }
                div."nhsuk-grid-column-two-thirds" {
                    (client_form(p.form, p.client, &p.errors))
                    @if let Some(r) = &p.results {
                        (results(r, p))
                        (facets(r, p.form, p.client.is_some()))
                    } @else {
                        p { "Search by words, category, place and time. Describe the client to see what each course would cost them and what to bring." }
                    }
                }
            }
        },
    )
}
