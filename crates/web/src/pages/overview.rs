//! London's provision for commissioners: per borough (in one category or all), how many
//! courses, how many free, how many reach people who cannot come in weekday daytimes, how many
//! online or step-free — the gaps the seed data showed (morning-only timetables, cost, access)
//! made visible from the index's counts.

use super::controls::{options, select};
use super::layout::page;
use crate::view::OverviewPage;
use maud::{Markup, html};
use prospectus_model::Category;

pub fn overview_page(p: &OverviewPage<'_>) -> Markup {
    let categories = options(
        Some("All categories"),
        Category::ALL,
        |c| c.as_str(),
        |c| c.label(),
    );
    let total: u64 = p.rows.iter().map(|r| r.courses).sum();
    html! {
        (page("London provision overview", &[], html! {
            h1 { "London provision overview" }
            form method="get" action="/find/overview" {
                (select("category", "Category", &categories, p.category.map_or("", |c| c.as_str()), &[]))
                button.nhsuk-button."nhsuk-button--secondary" type="submit" { "Show" }
            }
            p { (total) " courses"
                @if let Some(c) = p.category { " in " (c.label()) } " across London." }
            div."app-table-scroll" tabindex="0" role="region" aria-label="Provision by borough" {
                table.nhsuk-table {
                    caption."nhsuk-table__caption" { "Courses by borough" }
                    thead."nhsuk-table__head" {
                        tr."nhsuk-table__row" {
                            th."nhsuk-table__header" scope="col" { "Borough" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Courses" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Free" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Evening or weekend" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Weekday daytime only" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Online" }
                            th."nhsuk-table__header"."nhsuk-table__header--numeric" scope="col" { "Step-free" }
                        }
                    }
                    tbody."nhsuk-table__body" {
                        @for r in p.rows {
                            tr."nhsuk-table__row" {
                                th."nhsuk-table__header" scope="row" { (r.borough) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.courses) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.free) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.evening_or_weekend) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.daytime_only) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.online) }
                                td."nhsuk-table__cell"."nhsuk-table__cell--numeric" { (r.step_free) }
                            }
                        }
                    }
                }
            }
        }))
    }
}
