//! The HTTP edge of a real node over real sockets: `search=` answers what `Directory.Search`
//! answers, conditional GETs, compression, load shedding past the concurrency limit, the body
//! limit, JSON for every error, and links that never come from the request's `Host`.

mod common;

use common::*;
use prospectus_proto::v1 as w;
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn get_req(addr: &str, path: &str, extra: &str) -> HttpResp {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

fn ok_json(addr: &str, path: &str) -> serde_json::Value {
    let r = get_req(addr, path, "");
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

/// Every id `Directory.Search{text}` returns, following page tokens to the end.
async fn grpc_ids(node: &Node, text: &str) -> BTreeSet<String> {
    let mut dir = node.directory().await;
    let mut out = BTreeSet::new();
    let mut token = String::new();
    loop {
        let r = dir
            .search(w::SearchRequest {
                text: text.into(),
                page_size: 100,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner();
        for h in r.hits {
            let id = h.course.and_then(|c| c.course).map(|c| c.id);
            out.insert(id.expect("hit has a course"));
        }
        if r.next_page_token.is_empty() {
            return out;
        }
        token = r.next_page_token;
    }
}

fn http_ids(addr: &str, text: &str) -> BTreeSet<String> {
    let page = ok_json(addr, &format!("/services?search={text}&per_page=1000"));
    let ids: BTreeSet<String> = page["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(page["total_items"], ids.len(), "search={text}: {page}");
    ids
}

async fn publish(node: &Node, key: &str, n: usize, seed: u64) -> prospectus_dataset::Bundle {
    let data = prospectus_dataset::generate(seed, n, Some(SOUTHWARK)).expect("generate");
    let ops = bundle_records(&data).iter().map(op).collect();
    publish_batch(&mut node.publisher().await, &node.admin_token(), key, ops)
        .await
        .expect("publish");
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_search_answers_the_same_ids_as_directory_search() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    publish(&node, "edge-search", 300, 11).await;
    // Exact words, a stem ("cooking" → "cook"), two words (AND), and misspellings that only
    // typo tolerance finds.
    let words = [
        "digital",
        "maths",
        "english",
        "cooking",
        "digital+skills",
        "beekeping",
        "englsh",
        "digitl",
    ];
    for word in words {
        let http = http_ids(&node.addr, word);
        let grpc = grpc_ids(&node, &word.replace('+', " ")).await;
        assert_eq!(http, grpc, "search={word}");
        if word != "beekeping" {
            assert!(!http.is_empty(), "search={word} found nothing");
        }
    }
    // A misspelling finds what the right spelling finds.
    assert_eq!(
        http_ids(&node.addr, "englsh"),
        http_ids(&node.addr, "english")
    );
}

/// The item with `id` in a list page (`key` names the course id in its items).
fn item(addr: &str, path: &str, key: &str, id: &str) -> serde_json::Value {
    let page = ok_json(addr, path);
    let items = page["contents"].as_array().expect("contents");
    let found = items.iter().find(|x| x[key] == id);
    found
        .cloned()
        .unwrap_or_else(|| panic!("{path}: no item for {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_show_each_change_to_a_course_and_its_provider_at_once() {
    use prospectus_model::Record;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let data = publish(&node, "edge-lists", 60, 5).await;
    let mut course = data.courses[0].clone();
    let mut provider = data
        .providers
        .iter()
        .find(|p| p.id == course.provider_id)
        .cloned()
        .expect("the course's provider");
    let id = course.id.to_string();
    let words: Vec<&str> = course
        .title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4)
        .take(2)
        .collect();
    assert!(!words.is_empty(), "{}", course.title);
    let search = words.join("+");
    // Unfiltered and filtered (index-selected) lists of services and of runs.
    let services = [
        "/services?per_page=1000".to_string(),
        format!("/services?search={search}&per_page=1000"),
    ];
    let runs = [
        "/service_at_locations?per_page=1000".to_string(),
        format!("/service_at_locations?search={search}&per_page=1000"),
    ];
    let seen = |title: &str, org: &str| {
        for path in &services {
            // Twice: the second answer may come from the projection cache.
            for _ in 0..2 {
                let s = item(&node.addr, path, "id", &id);
                assert_eq!(s["name"], title, "{path}");
                assert_eq!(s["organization"]["name"], org, "{path}");
            }
        }
        for path in &runs {
            for _ in 0..2 {
                let r = item(&node.addr, path, "service_id", &id);
                assert_eq!(r["service"]["name"], title, "{path}");
                assert_eq!(r["service"]["organization"]["name"], org, "{path}");
            }
        }
    };
    seen(&course.title, &provider.name);

    // Publishes are visible to this node's reads when acknowledged.
    course.title = format!("{} renamed", course.title);
    let ops = vec![op(&Record::Course(course.clone()))];
    publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "course-renamed",
        ops,
    )
    .await
    .expect("publish the course");
    seen(&course.title, &provider.name);

    provider.name = format!("{} renamed", provider.name);
    let ops = vec![op(&Record::Provider(provider.clone()))];
    publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "provider-renamed",
        ops,
    )
    .await
    .expect("publish the provider");
    seen(&course.title, &provider.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_taxonomy_term_filter_selects_exactly_the_courses_carrying_the_term() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let data = publish(&node, "edge-terms", 200, 14).await;
    let mut nonempty = BTreeSet::new();
    // Facets the index answers (category, level, delivery, attendance, focus) and the one it
    // does not (support, checked on candidates), alone and with a second filter (AND).
    for term in prospectus_oruk::all_terms() {
        let want: BTreeSet<String> = data
            .courses
            .iter()
            .filter(|c| {
                prospectus_oruk::course_terms(c)
                    .iter()
                    .any(|t| t.taxonomy.key == term.taxonomy.key && t.key == term.key)
            })
            .map(|c| c.id.to_string())
            .collect();
        let page = ok_json(
            &node.addr,
            &format!("/services?taxonomy_term_id={}&per_page=1000", term.id()),
        );
        let got: BTreeSet<String> = page["contents"]
            .as_array()
            .expect("contents")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect();
        assert_eq!(got, want, "term {}/{}", term.taxonomy.key, term.key);
        if !want.is_empty() {
            nonempty.insert(term.taxonomy.key);
        }
        let org = data.courses[0].provider_id;
        let both = ok_json(
            &node.addr,
            &format!(
                "/services?taxonomy_term_id={}&organization_id={org}&per_page=1000",
                term.id()
            ),
        );
        let want_both = data
            .courses
            .iter()
            .filter(|c| c.provider_id == org && want.contains(&c.id.to_string()))
            .count();
        assert_eq!(
            both["total_items"], want_both,
            "term {} AND organization",
            term.key
        );
    }
    assert!(
        nonempty.contains(prospectus_oruk::SUPPORT.key) && nonempty.len() >= 5,
        "the data exercises most facets: {nonempty:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_gets_compression_json_errors_and_links_from_the_public_url() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let data = publish(&node, "edge-1", 60, 12).await;
    let a = node.addr.clone();

    // 304 on a repeated conditional GET, by ETag and by date; a list and an item.
    let course = data.courses[0].id;
    for path in ["/services?per_page=10", &format!("/services/{course}")] {
        let first = get_req(&a, path, "");
        assert_eq!(first.status, 200, "{path}");
        let tag = first.header("etag").expect("ETag").to_string();
        let date = first
            .header("last-modified")
            .expect("Last-Modified")
            .to_string();
        let again = get_req(&a, path, &format!("If-None-Match: {tag}\r\n"));
        assert_eq!(again.status, 304, "{path}: {}", again.text());
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        let since = get_req(&a, path, &format!("If-Modified-Since: {date}\r\n"));
        assert_eq!(since.status, 304, "{path}");
        let other = get_req(&a, path, "If-None-Match: W/\"something-else\"\r\n");
        assert_eq!(other.status, 200, "{path}");
    }
    // A change makes the old tag stale.
    let tag = get_req(&a, "/services?per_page=10", "")
        .header("etag")
        .expect("ETag")
        .to_string();
    let mut changed = data.courses[0].clone();
    changed.title = "A changed title".into();
    publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "edge-2",
        vec![op(&prospectus_model::Record::Course(changed))],
    )
    .await
    .expect("publish");
    let after = get_req(
        &a,
        "/services?per_page=10",
        &format!("If-None-Match: {tag}\r\n"),
    );
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(tag.as_str()));

    // Compression only when asked.
    let gz = get_req(&a, "/services?per_page=50", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(&gz.body[..2], &[0x1f, 0x8b], "gzip magic");
    let br = get_req(&a, "/services?per_page=50", "Accept-Encoding: br\r\n");
    assert_eq!(br.header("content-encoding"), Some("br"));
    let plain = get_req(&a, "/services?per_page=50", "");
    assert_eq!(plain.header("content-encoding"), None);
    plain.json();

    // Every error is JSON: wrong method, undecodable path, unknown path, bad parameter.
    for (req, status, error) in [
        (
            format!(
                "POST /services HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            405,
            "method_not_allowed",
        ),
        (
            format!("DELETE /services/{course} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
            405,
            "method_not_allowed",
        ),
        (
            format!("GET /services/%FF HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
            400,
            "bad_request",
        ),
        (
            format!("GET /nowhere HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
            404,
            "not_found",
        ),
        (
            format!("GET /services?page=0 HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
            400,
            "bad_parameter",
        ),
    ] {
        let r = http_raw(&a, req.as_bytes());
        assert_eq!(r.status, status, "{req}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{req}: {:?}",
            r.headers
        );
        assert_eq!(r.json()["error"], error, "{req}");
    }

    // A forged Host reaches no response body; links use the node's own address.
    for path in [
        "/feeds/services?limit=5",
        "/",
        "/services?per_page=5",
        "/nowhere",
    ] {
        let r = http_raw(
            &a,
            format!("GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(!r.text().contains("evil.example"), "{path}: {}", r.text());
    }
    let feed = ok_json(&a, "/feeds/services?limit=5");
    let next = feed["next"].as_str().expect("next");
    assert!(
        next.starts_with(&format!("http://{a}/feeds/services?")),
        "{next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_concurrency_limit_the_node_sheds_load_at_once_and_stays_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        &tmp.path().join("n"),
        SOUTHWARK,
        &[
            "--http-concurrency",
            "2",
            "--http-body-bytes",
            "1000",
            "--public-url",
            "https://directory.example.org/",
        ],
    );
    publish(&node, "edge-flood", 300, 13).await;
    let a = node.addr.clone();
    // A heavy page: hundreds of service_at_locations projected in full.
    let heavy = "/service_at_locations?per_page=1000&full=true&postcode=SE15&proximity=50000";
    assert_eq!(get_req(&a, heavy, "").status, 200);

    // 40 clients connected first, then all sending at once.
    const CLIENTS: usize = 40;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (a, barrier) = (a.clone(), barrier.clone());
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(&a).expect("connect");
                barrier.wait();
                let started = Instant::now();
                s.write_all(
                    format!("GET {heavy} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .expect("write");
                let mut raw = Vec::new();
                s.read_to_end(&mut raw).expect("read");
                (parse_http(&raw), started.elapsed())
            })
        })
        .collect();
    let results: Vec<(HttpResp, Duration)> = threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let shed: Vec<&(HttpResp, Duration)> =
        results.iter().filter(|(r, _)| r.status == 503).collect();
    let served = results.iter().filter(|(r, _)| r.status == 200).count();
    assert_eq!(
        shed.len() + served,
        CLIENTS,
        "only 200 or 503: {:?}",
        results.iter().map(|(r, _)| r.status).collect::<Vec<_>>()
    );
    assert!(served >= 1, "admitted requests are served");
    assert!(
        !shed.is_empty(),
        "with 2 slots and {CLIENTS} at once, some are shed"
    );
    let slowest_admitted = results
        .iter()
        .filter(|(r, _)| r.status == 200)
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    for (r, took) in &shed {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["error"], "overloaded");
        assert!(
            *took < Duration::from_secs(2),
            "shed in {took:?} (slowest admitted {slowest_admitted:?})"
        );
    }
    // The node is healthy and serving afterwards.
    assert_eq!(ok_json(&a, "/healthz")["status"], "ok");
    assert_eq!(ok_json(&a, "/readyz")["ready"], true);
    assert_eq!(get_req(&a, heavy, "").status, 200);

    // A body over the limit is refused before it is read.
    let r = http_raw(
        &a,
        format!(
            "POST /services HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5000\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"], "body_too_large");

    // Links come from --public-url, whatever Host says.
    let r = http_raw(
        &a,
        b"GET /feeds/services?limit=2 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    let next = r.json()["next"].as_str().expect("next").to_string();
    assert!(
        next.starts_with("https://directory.example.org/feeds/services?"),
        "{next}"
    );
}

#[test]
fn huge_inputs_get_short_json_errors_that_never_echo_them() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let a = node.addr.clone();
    let huge = "9".repeat(60_000);
    for (path, status) in [
        (format!("/services?page={huge}"), 400),
        (format!("/services/{huge}"), 404),
        (format!("/organizations/{huge}"), 404),
        (format!("/nope{huge}"), 404),
        (format!("/services?postcode={huge}"), 400),
    ] {
        let r = get_req(&a, &path, "");
        let head: String = r.text().chars().take(200).collect();
        assert_eq!(r.status, status, "{}…: {head}", &path[..20]);
        assert!(
            r.body.len() < 1024,
            "{}…: a {}-byte error for a 60 kB input",
            &path[..20],
            r.body.len()
        );
        let j = r.json();
        assert!(j["error"].is_string(), "{j}");
        // Quoted cut short, saying how long it was.
        assert!(
            j["message"]
                .as_str()
                .is_some_and(|m| m.len() < 300 && m.contains(" bytes)")),
            "{j}"
        );
    }

    // search= is bounded on every endpoint, not only the ones the index answers.
    let many = vec!["word"; 2000].join("+");
    for path in [
        "/organizations",
        "/taxonomies",
        "/taxonomy_terms",
        "/services",
    ] {
        let r = get_req(&a, &format!("{path}?search={many}"), "");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.json()["parameter"], "search", "{path}");
        assert!(r.body.len() < 1024, "{path}");
    }
    let seventeen: Vec<String> = (0..17).map(|i| format!("w{i}")).collect();
    let r = get_req(
        &a,
        &format!("/organizations?search={}", seventeen.join("+")),
        "",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["parameter"], "search");
    let r = get_req(
        &a,
        &format!("/organizations?search={}", seventeen[..16].join("+")),
        "",
    );
    assert_eq!(r.status, 200, "16 words are accepted: {}", r.text());
}

/// The `prospectus_http_blocking_in_flight` gauge of a node's `/metrics` (0 before any work).
fn blocking_in_flight(addr: &str) -> f64 {
    get_req(addr, "/metrics", "")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("prospectus_http_blocking_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_requests_never_let_blocking_work_exceed_the_concurrency_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        &tmp.path().join("n"),
        SOUTHWARK,
        &["--http-concurrency", "2", "--http-timeout-ms", "10"],
    );
    publish(&node, "edge-blocking", 300, 17).await;
    let a = node.addr.clone();
    // Far slower than the 10 ms timeout: every admitted request times out while its
    // blocking work runs on.
    let heavy = "/service_at_locations?per_page=1000&full=true&postcode=SE15&proximity=50000";

    const CLIENTS: usize = 8;
    const EACH: usize = 25;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (a, done) = (a.clone(), done.clone());
        std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(blocking_in_flight(&a));
            }
            peak
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|_| get_req(&a, heavy, ""))
                    .map(|r| {
                        let error = r.json()["error"].as_str().unwrap_or("").to_string();
                        (r.status, error, r.header("retry-after").map(str::to_string))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = clients
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = poller.join().expect("poller");

    assert!(peak >= 1.0, "the flood ran blocking work (peak {peak})");
    assert!(
        peak <= 2.0,
        "blocking tasks in flight peaked at {peak} with --http-concurrency 2"
    );
    // Timed out, or refused at once while timed-out work still held the permits.
    for (status, error, retry) in results.iter().filter(|(s, ..)| *s != 200) {
        assert_eq!(*status, 503, "{error}");
        assert!(error == "overloaded" || error == "timeout", "{error}");
        assert_eq!(retry.as_deref(), Some("1"));
    }
    // Once the flood's work has drained, the node serves again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while blocking_in_flight(&a) > 0.0 {
        assert!(Instant::now() < deadline, "blocking work never drained");
    }
    assert_eq!(get_req(&a, "/taxonomies", "").status, 200);
}
