//! The link worker's page: find a course for this client, see what they would pay and what
//! to bring, and hand them a printed sheet.
//!
//! It exists because the people the directory is for — social-prescribing link workers,
//! sitting with a client — have no CRM integration: they need a page on any node, in the
//! NHS.UK look they already know. This crate only turns what the server hands it (forms to
//! check, resolved records, the index's answer, the evaluator's answer) into HTML, and serves
//! its own vendored assets. It knows no gRPC, sled or tantivy, and does no I/O.
//!
//! Privacy: the client's circumstances ([`ClientForm`]) arrive in a POST body, live in the
//! rendered page's hidden fields only, and have no `Debug` that could print them.

mod assets;
mod form;
mod pages;
mod text;
mod view;

pub use assets::asset;
pub use form::{
    Benefits, ClientForm, Delivery, FormError, MAX_TEXT_CHARS, OUTSIDE_LONDON, SearchForm, SortBy,
    TimeOfDay,
};
pub use view::{
    CoursePage, CourseView, Facets, OverviewPage, ProvisionRow, Results, SearchPage, SheetPage,
};

use maud::html;

/// The search page (with results when something was asked).
pub fn search(p: &SearchPage<'_>) -> String {
    pages::search_page(p).into_string()
}

/// One course.
pub fn course(p: &CoursePage<'_>) -> String {
    pages::course_page(p).into_string()
}

/// The printable hand-out.
pub fn sheet(p: &SheetPage<'_>) -> String {
    pages::sheet_page(p).into_string()
}

/// London's provision by borough.
pub fn overview(p: &OverviewPage<'_>) -> String {
    pages::overview_page(p).into_string()
}

/// A page for "not found" and other plain failures, in the same frame.
pub fn message(title: &str, body: &str) -> String {
    pages::page(
        title,
        &[],
        html! {
            h1 { (title) }
            p { (body) }
            p { a href="/find" { "Search for a course" } }
        },
    )
    .into_string()
}

/// `k=v&k=v`, percent-encoded (RFC 3986 unreserved characters kept; space as `+`).
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_strings_encode_what_a_url_cannot_hold() {
        let q = super::query_string(&[("q", "art & craft".into()), ("postcode", "SE15".into())]);
        assert_eq!(q, "q=art+%26+craft&postcode=SE15");
    }
}
