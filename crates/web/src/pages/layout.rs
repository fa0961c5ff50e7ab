//! The frame every page shares: NHS.UK header and footer without the NHS logo (this is a
//! London boroughs' service, not an NHS one, and the logo is the NHS's to use), a skip link,
//! one `main` landmark, and the node's own CSS and JS — nothing from anywhere else.

use crate::form::FormError;
use maud::{DOCTYPE, Markup, html};

/// Page chrome around `body`.
pub fn page(title: &str, errors: &[FormError], body: Markup) -> Markup {
    let title = if errors.is_empty() {
        format!("{title} – Find a course")
    } else {
        format!("Error: {title} – Find a course")
    };
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="icon" href="/find/assets/images/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/find/assets/nhsuk-frontend.min.css";
                link rel="stylesheet" href="/find/assets/app.css";
                script type="module" src="/find/assets/app.js" {}
            }
            body {
                a.nhsuk-skip-link href="#maincontent" { "Skip to main content" }
                header.nhsuk-header role="banner" {
                    div."nhsuk-header__container"."nhsuk-width-container" {
                        div."nhsuk-header__service" {
                            a."nhsuk-header__service-name" href="/find" { "Find an adult learning course" }
                        }
                    }
                    nav."nhsuk-header__navigation" aria-label="Menu" {
                        div."nhsuk-width-container" {
                            ul."nhsuk-header__navigation-list" {
                                li."nhsuk-header__navigation-item" {
                                    a."nhsuk-header__navigation-link" href="/find" { "Search" }
                                }
                                li."nhsuk-header__navigation-item" {
                                    a."nhsuk-header__navigation-link" href="/find/sheet" data-shortlist-link {
                                        "Shortlist " span.app-shortlist-count data-shortlist-count {}
                                    }
                                }
                                li."nhsuk-header__navigation-item" {
                                    a."nhsuk-header__navigation-link" href="/find/overview" { "London overview" }
                                }
                            }
                        }
                    }
                }
                div."nhsuk-width-container" {
                    main."nhsuk-main-wrapper" #maincontent role="main" {
                        (error_summary(errors))
                        (body)
                    }
                }
                footer.nhsuk-footer role="contentinfo" {
                    div."nhsuk-width-container" {
                        p."nhsuk-body-s" {
                            "Course details come from each borough's providers through the Prospectus directory. "
                            "What you enter about a client is used only to answer this page: it is not stored, logged or sent on."
                        }
                    }
                }
            }
        }
    }
}

/// The GOV.UK / NHS error summary: first on the page, each message linking to its field.
pub fn error_summary(errors: &[FormError]) -> Markup {
    if errors.is_empty() {
        return html! {};
    }
    html! {
        div.nhsuk-error-summary aria-labelledby="error-summary-title" role="alert" tabindex="-1" {
            h2."nhsuk-error-summary__title" #error-summary-title { "There is a problem" }
            div."nhsuk-error-summary__body" {
                ul."nhsuk-list"."nhsuk-error-summary__list" {
                    @for e in errors {
                        li { a href={ "#" (e.field) } { (e.message) } }
                    }
                }
            }
        }
    }
}
