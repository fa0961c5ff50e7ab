//! The link worker's page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) against a real node with a real store. The journeys are the ones a link
//! worker makes with a client beside them — by mouse, by keyboard only, and with JavaScript
//! off — and every page is checked with axe-core (WCAG 2.2 A/AA) inside the same browser.
//!
//! Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); without them the
//! tests fail saying so rather than pass unexamined.

mod common;

#[path = "page/browser.rs"]
mod browser;

use browser::Browser;
use common::*;
use fantoccini::key::Key;
use std::path::Path;

const ANXIETY: &str = "a1000000-0000-4000-8000-000000000001";
const SLEEP: &str = "a1000000-0000-4000-8000-000000000002";

/// A node holding the page fixture (four Southwark courses: three about anxiety at different
/// times, one about spreadsheets), logging at trace level so the privacy checks read everything
/// it could have said.
async fn node_with_offer(dir: &Path) -> Node {
    let node = Node::start_traced(dir, SOUTHWARK);
    let bundle =
        prospectus_dataset::read_json(include_str!("data/page-offer.json")).expect("fixture reads");
    publish_when_ready(&node, "page-fixture", &bundle.into_records())
        .await
        .expect("publish fixture");
    node
}

fn base(node: &Node) -> String {
    format!("http://{}", node.addr)
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The values the journeys type about the client: none may appear in a URL, log or file.
const CLIENT_MARKERS: &[&str] = &["client_age", "client_benefits", "uc-looking"];

fn assert_private(node: &Node, urls: &[String]) {
    for u in urls {
        for m in CLIENT_MARKERS {
            assert!(!u.contains(m), "client detail {m} in a visited URL: {u}");
        }
    }
    let log = node.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the node logged at trace level"
    );
    for m in CLIENT_MARKERS {
        assert!(!log.contains(m), "client detail {m} in the node's log");
    }
    for (path, bytes) in files_under(&node.dir) {
        for m in CLIENT_MARKERS {
            assert!(
                !contains(&bytes, m),
                "client detail {m} in {}",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_worker_finds_prices_shortlists_and_prints_for_a_client() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = node_with_offer(&tmp.path().join("node")).await;
    let b = Browser::start(true).await;
    let mut visited = Vec::new();

    // Search: anxiety near SE15, not mornings (a plain GET).
    b.goto(&format!("{}/find", base(&node))).await;
    b.axe("search page").await;
    b.shots("search").await;
    b.type_into("#q", "anxiety").await;
    b.type_into("#postcode", "SE15").await;
    b.select("#time", "not-mornings").await;
    b.click("#search-form button[type=submit]").await;
    b.wait_text("#results-heading", "courses found").await;
    visited.push(b.url().await);
    assert!(visited[0].contains("q=anxiety") && visited[0].contains("postcode=SE15"));
    let results = b.text("main").await;
    assert!(
        results.contains("Managing Anxiety: Feeling Calmer"),
        "{results}"
    );
    assert!(
        results.contains("Anxiety and Sleep: Evening Workshop"),
        "{results}"
    );
    assert!(
        !results.contains("Morning Calm"),
        "a morning course shown for 'not mornings'"
    );
    assert!(
        !results.contains("Spreadsheets"),
        "an unrelated course shown"
    );
    b.axe("results page").await;

    // About this client: on Universal Credit, aged 41 (a POST).
    b.click("#client-form summary").await;
    b.type_into("#client_age", "41").await;
    b.select("#client_benefits", "uc-looking").await;
    b.click("#client-form button[type=submit]").await;
    b.wait_text(&format!("#pick-{ANXIETY}"), "").await;
    visited.push(b.url().await);
    let card = b.text(".app-result").await;
    assert!(card.contains("Free for this client"), "{card}");
    assert!(
        card.contains("Benefit award letter"),
        "documents to bring: {card}"
    );
    assert!(card.contains("Passport, driving licence"), "{card}");
    b.axe("results for a client").await;
    b.shots("results").await;

    // Shortlist two, open one.
    b.click(&format!("label[for=pick-{ANXIETY}]")).await;
    b.click(&format!("label[for=pick-{SLEEP}]")).await;
    b.click(&format!("button[formaction='/find/course/{ANXIETY}']"))
        .await;
    b.wait_text("h1", "Managing Anxiety").await;
    visited.push(b.url().await);
    let course = b.text("main").await;
    assert!(course.contains("Free for this client"), "{course}");
    assert!(course.contains("How to enrol"), "{course}");
    assert!(course.contains("Tuesdays, 13:00 to 15:00"), "{course}");
    b.axe("course page").await;
    b.shots("course").await;

    // Back to the same results, the shortlist still ticked; print the sheet.
    b.click("main form button.app-link-button").await;
    b.wait_text("#results-heading", "courses found").await;
    assert!(
        b.checked(&format!("#pick-{ANXIETY}")).await,
        "shortlist survives"
    );
    b.click("[data-sheet-button]").await;
    b.wait_text("h1", "Your courses").await;
    visited.push(b.url().await);
    let sheet = b.text("main").await;
    assert!(
        sheet.contains("Managing Anxiety: Feeling Calmer"),
        "{sheet}"
    );
    assert!(
        sheet.contains("Anxiety and Sleep: Evening Workshop"),
        "{sheet}"
    );
    assert!(sheet.contains("Free for this client"), "{sheet}");
    assert!(sheet.contains("They would pay £10"), "{sheet}");
    b.axe("sheet").await;
    b.shots("sheet").await;

    b.goto(&format!("{}/find/overview", base(&node))).await;
    let overview = b.text("main").await;
    assert!(overview.contains("Southwark"), "{overview}");
    b.axe("overview").await;
    b.shots("overview").await;

    let history = b.close_and_read_history().await;
    assert!(
        contains(&history, "/find"),
        "the browser recorded its history"
    );
    for m in CLIENT_MARKERS {
        assert!(
            !contains(&history, m),
            "client detail {m} in browser history"
        );
    }
    assert_private(&node, &visited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_journey_by_keyboard_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = node_with_offer(&tmp.path().join("node")).await;
    let b = Browser::start(true).await;
    b.goto(&format!("{}/find", base(&node))).await;

    b.tab_to("#q").await;
    b.keys("anxiety").await;
    b.tab_to("#postcode").await;
    b.keys("SE15").await;
    b.tab_to("#time").await;
    b.keys("Not").await;
    b.tab_to("#search-form button[type=submit]").await;
    b.keys(&Key::Enter).await;
    b.wait_text("#results-heading", "courses found").await;

    b.tab_to("#client-form summary").await;
    b.keys(&Key::Enter).await;
    b.tab_to("#client_age").await;
    b.keys("41").await;
    b.tab_to("#client_benefits").await;
    b.keys("Universal").await;
    b.tab_to("#client-form button[type=submit]").await;
    b.keys(&Key::Enter).await;
    b.wait_text(&format!("#pick-{ANXIETY}"), "").await;
    assert!(b.text(".app-result").await.contains("Free for this client"));

    b.tab_to(&format!("#pick-{ANXIETY}")).await;
    b.keys(&Key::Space).await;
    b.tab_to(&format!("#pick-{SLEEP}")).await;
    b.keys(&Key::Space).await;
    b.tab_to(&format!("button[formaction='/find/course/{ANXIETY}']"))
        .await;
    b.keys(&Key::Enter).await;
    b.wait_text("h1", "Managing Anxiety").await;
    b.tab_to("main form button.app-link-button").await;
    b.keys(&Key::Enter).await;
    b.wait_text("#results-heading", "courses found").await;
    b.tab_to("[data-sheet-button]").await;
    b.keys(&Key::Enter).await;
    b.wait_text("h1", "Your courses").await;
    let sheet = b.text("main").await;
    assert!(
        sheet.contains("Managing Anxiety: Feeling Calmer") && sheet.contains("They would pay £10"),
        "{sheet}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching_works_with_javascript_off() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = node_with_offer(&tmp.path().join("node")).await;
    let b = Browser::start(false).await;
    b.goto(&format!("{}/find", base(&node))).await;
    b.type_into("#q", "anxiety").await;
    b.type_into("#postcode", "SE15").await;
    b.select("#time", "not-mornings").await;
    b.click("#search-form button[type=submit]").await;
    b.wait_text("#results-heading", "2 courses found").await;
    // Ticking and printing without JavaScript: the sheet gets the ticked courses.
    b.click(&format!("label[for=pick-{SLEEP}]")).await;
    b.click("[data-sheet-button]").await;
    b.wait_text("h1", "Your courses").await;
    assert!(
        b.text("main")
            .await
            .contains("Anxiety and Sleep: Evening Workshop")
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_is_explained_on_the_page_never_a_500() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = node_with_offer(&tmp.path().join("node")).await;
    let long = "w".repeat(10_000);
    let (status, body) = http_get(
        &node.addr,
        &format!("/find?q={long}&category=astrology&postcode=ZZ99+9ZZ"),
    );
    assert_eq!(status, 400, "{}", &body[..body.len().min(500)]);
    assert!(body.contains("There is a problem"));
    assert!(body.contains("Search words must be 200 characters or fewer"));
    assert!(body.contains("Choose a category from the list"));
    assert!(body.contains("Enter a London postcode"));
    assert!(!body.contains(&long), "the 10 kB input is not echoed whole");
    let b = Browser::start(true).await;
    b.goto(&format!("{}/find?category=astrology", base(&node)))
        .await;
    b.wait_text(".nhsuk-error-summary", "There is a problem")
        .await;
    b.axe("error page").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_private_self_contained_and_browsers_land_on_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = node_with_offer(&tmp.path().join("node")).await;
    let body = "q=anxiety&client_age=41&client_benefits=uc-looking";
    let r = http_post_form(&node.addr, "/find", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.header("content-security-policy")
            .is_some_and(|v| v.starts_with("default-src 'self'")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert!(
        r.text().contains("Free for this client"),
        "the client was evaluated"
    );
    assert!(
        !r.text().contains("https://"),
        "no external URL in the page"
    );
    // Everything the page loads comes from the node itself.
    for src in [
        "nhsuk-frontend.min.css",
        "nhsuk-frontend.min.js",
        "app.css",
        "app.js",
    ] {
        let (status, _) = http_get(&node.addr, &format!("/find/assets/{src}"));
        assert_eq!(status, 200, "{src}");
    }
    // A browser at / is sent to the page; JSON clients still get the ORUK API details.
    let root = http_raw(
        &node.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html,application/xhtml+xml\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/find"));
    let (status, api) = http_get(&node.addr, "/");
    assert_eq!(status, 200);
    assert!(api.contains("openapi_url"), "{api}");
    assert_private(&node, &[]);
}
