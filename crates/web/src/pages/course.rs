//! One course as a link worker needs to read it to a client: when and where it meets, what
//! support there is, what this client would pay and why, whether they can join and, if not,
//! the unmet condition in plain English, what to bring, and how to enrol. The result card, the
//! course page and the hand-out all draw from here.

use super::controls::hidden;
use super::layout::page;
use crate::form::ClientForm;
use crate::text;
use crate::view::{CoursePage, CourseView};
use chrono::NaiveDate;
use maud::{Markup, html};
use prospectus_model::{Answer, Evaluation, UnmetReason};

/// The course's own page address.
pub fn href(v: &CourseView<'_>) -> String {
    format!("/find/course/{}", v.course.id)
}

/// "Checked by the provider 3 weeks ago", and a warning when its borough's node is quiet.
pub fn freshness(v: &CourseView<'_>, today: NaiveDate) -> Markup {
    html! {
        p."nhsuk-body-s"."app-freshness" {
            "Checked by the provider " (text::ago(v.course.last_verified, today))
            " · published by " (v.origin_name)
        }
        @if v.stale {
            div."nhsuk-warning-callout" {
                h3."nhsuk-warning-callout__label" { span role="text" { span."nhsuk-u-visually-hidden" { "Important: " } "May be out of date" } }
                p { (v.origin_name) "'s directory has not been heard from recently. Check with the provider before referring." }
            }
        }
    }
}

/// The answer for this client: fee, concession, eligibility, documents.
pub fn answer(e: &Evaluation) -> Markup {
    html! {
        @match e.answer {
            Answer::Eligible => {
                p."app-answer"."app-answer--eligible" {
                    strong { "Can join. " }
                    @match e.fee_pence {
                        Some(0) => strong.app-fee { "Free for this client." },
                        Some(fee) => { "They would pay " strong.app-fee { (text::money(fee)) } "." },
                        None => {},
                    }
                    @if let Some(c) = &e.concession { " (" (c.name) ")" }
                }
            }
            Answer::NotEligible => {
                p."app-answer"."app-answer--not-eligible" { strong { "Cannot join." } }
                ul."nhsuk-list"."nhsuk-list--bullet" {
                    @for u in e.unmet.iter().filter(|u| u.reason == UnmetReason::NotMet) {
                        li { "Must be " (u.description) }
                    }
                }
            }
            Answer::DependsOn => {
                p."app-answer"."app-answer--depends" { strong { "Depends on more answers." } }
                ul."nhsuk-list"."nhsuk-list--bullet" {
                    @for u in &e.unmet {
                        li { "Must be " (u.description) }
                    }
                }
            }
        }
        @if !e.possible_concessions.is_empty() {
            p."nhsuk-body-s" {
                @for p in &e.possible_concessions {
                    "Could pay " (text::money(p.fee_pence)) " (" (p.name) ") if "
                    (text::list(&p.not_stated_descriptions)) ". "
                }
            }
        }
        @if !e.documents.is_empty() && e.answer != Answer::NotEligible {
            h4."nhsuk-heading-xs" { "What to bring" }
            ul."nhsuk-list"."nhsuk-list--bullet"."app-documents" {
                @for d in &e.documents { li { (d.label()) } }
            }
        }
    }
}

/// Fees and concessions as the provider set them, for when no client is described.
pub fn fees(v: &CourseView<'_>) -> Markup {
    let f = &v.course.fees;
    html! {
        p { "Full fee: " strong { (text::money(f.full_fee_pence)) } }
        @if !f.concessions.is_empty() {
            ul."nhsuk-list"."nhsuk-list--bullet" {
                @for c in &f.concessions {
                    @let conds: Vec<String> = c.conditions.iter().map(|x| x.describe_under(v.rules)).collect();
                    li { (text::money(c.fee_pence)) " for learners " (text::list(&conds)) " (" (c.name) ")" }
                }
            }
        }
        @if !v.course.eligibility.is_empty() {
            p."nhsuk-body-s" { "Who can join: learners "
                (text::list(&v.course.eligibility.iter().map(|r| r.condition.describe_under(v.rules)).collect::<Vec<_>>())) "." }
        }
    }
}

/// When and where each run meets.
pub fn runs(v: &CourseView<'_>) -> Markup {
    html! {
        ul."nhsuk-list"."app-runs" {
            @for r in &v.course.runs {
                li {
                    (text::meets(r)) ". " (text::start(r.start)) "."
                    @if let Some(w) = text::weeks(r) { " " (w) "." }
                    @if let Some(p) = text::places(r) { " " (p) "." }
                    @if let Some(venue) = v.venue(r.venue_id) {
                        br;
                        @if venue.is_virtual() { "Online" } @else {
                            (venue.name)
                            @if let Some(a) = &venue.address { ", " (a.lines.join(", ")) ", " (a.postcode) }
                            @if venue.accessibility.step_free { " · step-free access" }
                        }
                    }
                }
            }
        }
    }
}

/// Support, language and focus, as tags.
pub fn support(v: &CourseView<'_>) -> Markup {
    let c = v.course;
    let step_free = v.venues.iter().any(|x| x.accessibility.step_free);
    html! {
        @if c.mental_health_focus || step_free || !c.support.is_empty() {
            ul."app-tags" {
                @if c.mental_health_focus { li { strong.nhsuk-tag."nhsuk-tag--green" { "Mental health focus" } } }
                @if step_free { li { strong.nhsuk-tag."nhsuk-tag--blue" { "Step-free" } } }
                @for s in &c.support { li { strong.nhsuk-tag."nhsuk-tag--grey" { (s.label()) } } }
            }
        }
    }
}

/// How to enrol.
pub fn enrol(v: &CourseView<'_>) -> Markup {
    let c = v.course;
    let p = v.provider;
    html! {
        ul."nhsuk-list" {
            @if let Some(u) = &c.url { li { "Web page: " a href=(u) rel="noreferrer noopener" { (u) } } }
            @if let Some(e) = c.contact_email.as_ref().or(p.and_then(|p| p.email.as_ref())) {
                li { "Email: " a href={ "mailto:" (e) } { (e) } }
            }
            @if let Some(ph) = p.and_then(|p| p.phone.as_ref()) { li { "Phone: " (ph) } }
            @if let Some(w) = p.and_then(|p| p.website.as_ref()) { li { "Provider: " a href=(w) rel="noreferrer noopener" { (w) } } }
        }
    }
}

/// A result card.
pub fn card(v: &CourseView<'_>, client: Option<&ClientForm>, today: NaiveDate) -> Markup {
    let id = v.course.id.to_string();
    html! {
        li."nhsuk-card"."app-result" {
            div."nhsuk-card__content" {
                h3."nhsuk-card__heading"."nhsuk-heading-m" {
                    @if client.is_some() {
                        // With a client described, opening the course posts the form so their
                        // circumstances never go into a URL.
                        button."app-link-button" type="submit" formaction=(href(v)) formmethod="post"
                            name="open" value=(id) { (v.course.title) }
                    } @else {
                        a href=(href(v)) { (v.course.title) }
                    }
                }
                p."nhsuk-body-s" {
                    @if let Some(p) = v.provider { (p.name) }
                    @if let Some(d) = v.distance_km { " · " (text::miles(d)) " away" }
                    @if let Some(s) = v.next_start { " · " (text::start(s)) }
                }
                (support(v))
                (runs(v))
                @match &v.evaluation {
                    Some(e) => (answer(e)),
                    None => (fees(v)),
                }
                (freshness(v, today))
                div.nhsuk-checkboxes."nhsuk-checkboxes--small" {
                    div."nhsuk-checkboxes__item" {
                        input."nhsuk-checkboxes__input" id={ "pick-" (id) } name="id" type="checkbox" value=(id) data-shortlist;
                        label.nhsuk-label."nhsuk-checkboxes__label" for={ "pick-" (id) } {
                            "Add to shortlist" span."nhsuk-u-visually-hidden" { ": " (v.course.title) }
                        }
                    }
                }
            }
        }
    }
}

/// The course page.
pub fn course_page(p: &CoursePage<'_>) -> Markup {
    let v = &p.view;
    let c = v.course;
    let id = c.id.to_string();
    page(
        &c.title,
        &[],
        html! {
            h1 { (c.title) }
            p."nhsuk-lede-text" {
                @if let Some(pr) = v.provider { (pr.name) " · " }
                (c.level.label()) " · " (c.delivery.label())
            }
            (support(v))
            p { (c.description) }
            h2."nhsuk-heading-m" { "When and where" }
            (runs(v))
            h2."nhsuk-heading-m" { "Cost and who can join" }
            @match &v.evaluation {
                Some(e) => (answer(e)),
                None => (fees(v)),
            }
            h2."nhsuk-heading-m" { "How to enrol" }
            (enrol(v))
            (freshness(v, p.today))
            @if let (Some(client), Some(search)) = (p.client, p.search) {
                // Back to the same results for the same client, without putting either in a URL.
                form method="post" action="/find" {
                    (hidden(&search.pairs()))
                    (hidden(&client.pairs()))
                    button."app-link-button" type="submit" { "Back to results" }
                }
            } @else {
                p { a href="/find" { "Back to search" } }
            }
            form method="post" action="/find/sheet" {
                @if let Some(client) = p.client { (hidden(&client.pairs())) }
                input type="hidden" name="id" value=(id);
                button.nhsuk-button."nhsuk-button--secondary" type="submit" data-shortlist-add=(id) { "Print a sheet for this course" }
            }
        },
    )
}
