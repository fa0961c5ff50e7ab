//! The hand-out: the shortlisted courses on A4 in large, plain type — when, where, what this
//! client would pay, what to bring, how to enrol. The thing a client takes home; the print
//! stylesheet drops the page chrome.

use super::course::{answer, enrol, fees, runs};
use super::layout::page;
use crate::text;
use crate::view::SheetPage;
use maud::{Markup, html};

pub fn sheet_page(p: &SheetPage<'_>) -> Markup {
    page(
        "Your courses",
        &[],
        html! {
            div."app-sheet" {
                h1 { "Your courses" }
                p."nhsuk-lede-text" { "Printed " (text::date(p.today)) "." }
                @if p.courses.is_empty() {
                    p { "The shortlist is empty. Tick \u{201c}Add to shortlist\u{201d} on search results, then print the sheet." }
                }
                @if p.missing > 0 {
                    p."nhsuk-body-s" { (p.missing) " shortlisted course(s) are no longer listed and are left out." }
                }
                @for v in &p.courses {
                    section."app-sheet__course" aria-labelledby={ "c-" (v.course.id) } {
                        h2."nhsuk-heading-l" id={ "c-" (v.course.id) } { (v.course.title) }
                        @if let Some(pr) = v.provider { p { (pr.name) } }
                        h3."nhsuk-heading-s" { "When and where" }
                        (runs(v))
                        h3."nhsuk-heading-s" { "Cost" }
                        @match &v.evaluation {
                            Some(e) => (answer(e)),
                            None => (fees(v)),
                        }
                        h3."nhsuk-heading-s" { "How to join" }
                        (enrol(v))
                    }
                }
                p."app-no-print" {
                    button.nhsuk-button type="button" data-print hidden { "Print this sheet" }
                    " "
                    a href="/find" { "Back to search" }
                }
            }
        },
    )
}
