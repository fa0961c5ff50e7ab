//! Search as a link worker uses it, over real gRPC against real node processes: the relevance
//! test set (tests/data/relevance.json over a generated directory plus the hand-made courses
//! in tests/data/search-fixtures.json), exact cursor paging while the directory changes,
//! learner profiles kept out of logs and the store, bad queries refused by field, and stale
//! origins flagged.

mod common;

use common::*;
use prospectus_dataset::Bundle;
use prospectus_model::{LearnerProfile, Record};
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const NEWHAM: &str = "E09000025";

fn data(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .expect("fixture file")
}

fn fixtures() -> Bundle {
    prospectus_dataset::read_json(&data("search-fixtures.json")).expect("fixture bundle")
}

fn wire_enum<T: std::str::FromStr<Err = String> + prospectus_proto::WireEnum>(v: &Value) -> i32 {
    let s = v.as_str().expect("enum name");
    s.parse::<T>().expect("known name").to_i32()
}

fn enums<T: std::str::FromStr<Err = String> + prospectus_proto::WireEnum>(
    v: &Value,
    key: &str,
) -> Vec<i32> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(wire_enum::<T>).collect())
        .unwrap_or_default()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A relevance-set request (JSON, model names for enums) as a wire request.
fn request(v: &Value) -> w::SearchRequest {
    use prospectus_model::{Attendance, Category, DeliveryMode, Level, Weekday};
    let learner = v.get("learner").map(|l| {
        serde_json::from_value::<LearnerProfile>(l.clone())
            .expect("learner profile")
            .to_wire()
    });
    let sort = match v.get("sort").and_then(Value::as_str) {
        None | Some("relevance") => w::SortOrder::Relevance,
        Some("distance") => w::SortOrder::Distance,
        Some("start-date") => w::SortOrder::StartDate,
        Some("fee") => w::SortOrder::Fee,
        Some(o) => panic!("unknown sort {o}"),
    } as i32;
    w::SearchRequest {
        text: text(v, "text"),
        categories: enums::<Category>(v, "categories"),
        boroughs: strings(v, "boroughs"),
        learner,
        eligible_only: v
            .get("eligible_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        page_size: 10,
        page_token: String::new(),
        levels: enums::<Level>(v, "levels"),
        delivery: enums::<DeliveryMode>(v, "delivery"),
        attendance: enums::<Attendance>(v, "attendance"),
        days: enums::<Weekday>(v, "days"),
        time_from: text(v, "time_from"),
        time_to: text(v, "time_to"),
        starts_after: text(v, "starts_after"),
        starts_before: text(v, "starts_before"),
        flexible_start_only: v
            .get("flexible_start_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        min_places_left: v
            .get("min_places_left")
            .and_then(Value::as_u64)
            .map(|n| n as u32),
        max_fee_pence: v
            .get("max_fee_pence")
            .and_then(Value::as_u64)
            .map(|n| n as u32),
        mental_health_only: v
            .get("mental_health_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        step_free_only: v
            .get("step_free_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        languages: strings(v, "languages"),
        postcode: text(v, "postcode"),
        near: v.get("near").map(|n| w::LatLon {
            lat: n["lat"].as_f64().expect("lat"),
            lon: n["lon"].as_f64().expect("lon"),
        }),
        radius_km: v.get("radius_km").and_then(Value::as_f64),
        exclude_online: v
            .get("exclude_online")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        sort,
        view: w::HitView::Unspecified as i32,
    }
}

fn hit_ids(r: &w::SearchResponse) -> Vec<String> {
    r.hits
        .iter()
        .filter_map(|h| h.course.as_ref()?.course.as_ref().map(|c| c.id.clone()))
        .collect()
}

type Dir = w::directory_client::DirectoryClient<tonic::transport::Channel>;

/// Every hit of a query, paging with the cursor (page size 100).
async fn all_ids(dir: &mut Dir, mut req: w::SearchRequest) -> Vec<String> {
    req.page_size = 100;
    let mut out = Vec::new();
    loop {
        let r = dir.search(req.clone()).await.expect("search").into_inner();
        out.extend(hit_ids(&r));
        if r.next_page_token.is_empty() {
            return out;
        }
        req.page_token = r.next_page_token;
    }
}

async fn publish_records(node: &Node, key: &str, records: &[Record]) -> w::PublishReceipt {
    let mut p = node.publisher().await;
    publish_batch(
        &mut p,
        &node.admin_token(),
        key,
        records.iter().map(op).collect(),
    )
    .await
    .expect("publish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relevance_set_passes() {
    let set: Value = serde_json::from_str(&data("relevance.json")).expect("relevance.json");
    let seed = set["seed"].as_u64().expect("seed");
    let n = set["generated_courses"].as_u64().expect("count") as usize;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let generated = prospectus_dataset::generate(seed, n, None).expect("generate");
    publish_records(&node, "generated", &bundle_records(&generated)).await;
    publish_records(&node, "fixtures", &bundle_records(&fixtures())).await;

    let mut dir = node.directory().await;
    let queries = set["queries"].as_array().expect("queries");
    assert!(queries.len() >= 25, "the set has {} queries", queries.len());
    let mut failures = Vec::new();
    for q in queries {
        let name = q["name"].as_str().unwrap_or("?");
        let req = request(&q["request"]);
        let top = dir.search(req.clone()).await;
        let top = match top {
            Ok(r) => r.into_inner(),
            Err(s) => {
                failures.push(format!("{name}: {s}"));
                continue;
            }
        };
        let top_ids = hit_ids(&top);
        let every = all_ids(&mut dir, req).await;
        assert_eq!(every.len() as u64, top.total_hits, "{name}: total_hits");
        for id in q["must_top10"].as_array().expect("must") {
            let id = id.as_str().unwrap_or_default();
            if !top_ids.iter().any(|x| x == id) {
                let pos = every.iter().position(|x| x == id);
                failures.push(format!(
                    "{name}: {id} not in the top 10 (position {pos:?} of {})",
                    every.len()
                ));
            }
        }
        for id in q["must_not"].as_array().expect("must_not") {
            let id = id.as_str().unwrap_or_default();
            if every.iter().any(|x| x == id) {
                failures.push(format!("{name}: {id} must not appear"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Facets agree with filtered totals.
    let all = dir
        .search(w::SearchRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    let newham_facet = all
        .borough_facets
        .iter()
        .find(|f| f.value == NEWHAM)
        .map(|f| f.count);
    let newham = dir
        .search(w::SearchRequest {
            boroughs: vec![NEWHAM.into()],
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(newham_facet, Some(newham.total_hits));
    let esol_facet = all
        .category_facets
        .iter()
        .find(|f| f.value == "esol")
        .map(|f| f.count);
    let esol = dir
        .search(w::SearchRequest {
            categories: vec![w::Category::Esol as i32],
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(esol_facet, Some(esol.total_hits));
    assert!(esol.total_hits > 0);
    assert_eq!(all.total_hits as usize, n + fixtures().courses.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_while_the_directory_changes_sees_each_stable_course_once() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = prospectus_dataset::generate(7, 10_000, Some(SOUTHWARK)).expect("generate");
    publish_records(&node, "stable", &bundle_records(&b)).await;
    let stable: BTreeSet<String> = b.courses.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(stable.len(), 10_000);

    // Churn: new courses (copies of stable ones with new ids and start dates), then updates
    // and deletions of those, published continuously while the reader pages.
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicUsize::new(0));
    let churn = {
        let (stop, batches) = (stop.clone(), batches.clone());
        let url = node.url();
        let token = node.admin_token();
        let template = b.courses.clone();
        tokio::spawn(async move {
            let ch = tonic::transport::Channel::from_shared(url)
                .expect("url")
                .connect()
                .await
                .expect("connect");
            let mut p = w::publisher_client::PublisherClient::new(ch);
            let mut live: Vec<prospectus_model::Course> = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 10_000 {
                let mut ops = Vec::new();
                for k in 0..20 {
                    let mut c = template[(i * 37 + k * 101) % template.len()].clone();
                    c.id = prospectus_model::Uuid::new_v4();
                    c.title = format!("{} (extra group {i}-{k})", c.title);
                    if let Some(r) = c.runs.first_mut() {
                        r.id = prospectus_model::Uuid::new_v4();
                    }
                    ops.push(op(&Record::Course(c.clone())));
                    live.push(c);
                }
                // Move some earlier churn courses in every sort order, delete others.
                for c in live.iter_mut().rev().skip(20).step_by(3).take(5) {
                    c.fees.full_fee_pence = (c.fees.full_fee_pence + 777) % 50_000;
                    ops.push(op(&Record::Course(c.clone())));
                }
                if live.len() > 60 {
                    for c in live.drain(..10) {
                        ops.push(w::PublishOp {
                            op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
                                kind: w::RecordKind::Course as i32,
                                id: c.id.to_string(),
                            })),
                        });
                    }
                }
                publish_batch(&mut p, &token, "", ops)
                    .await
                    .expect("churn publish");
                batches.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };

    let mut dir = node.directory().await;
    for sort in [
        w::SortOrder::StartDate,
        w::SortOrder::Fee,
        w::SortOrder::Relevance,
    ] {
        let before = batches.load(Ordering::Relaxed);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut req = w::SearchRequest {
            page_size: 100,
            sort: sort as i32,
            ..Default::default()
        };
        let mut pages = 0;
        loop {
            let r = dir.search(req.clone()).await.expect("page").into_inner();
            pages += 1;
            for id in hit_ids(&r) {
                *seen.entry(id).or_default() += 1;
            }
            if r.next_page_token.is_empty() {
                break;
            }
            req.page_token = r.next_page_token;
        }
        let during = batches.load(Ordering::Relaxed) - before;
        let missing = stable.iter().filter(|id| !seen.contains_key(*id)).count();
        // Courses that changed while paging may move; the stable ones must not.
        let twice: Vec<_> = seen
            .iter()
            .filter(|(id, n)| **n > 1 && stable.contains(*id))
            .collect();
        assert_eq!(missing, 0, "{sort:?}: stable courses missed");
        assert!(twice.is_empty(), "{sort:?}: seen twice: {twice:?}");
        assert!(pages >= 100, "{sort:?}: only {pages} pages");
        assert!(
            during >= 1,
            "{sort:?}: no change was published while paging"
        );
    }
    stop.store(true, Ordering::Relaxed);
    churn.await.expect("churn task");
}

/// A node started with its own log filter (the shared harness fixes `RUST_LOG=info`).
struct TraceNode {
    child: Child,
    addr: String,
}

impl Drop for TraceNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_traced(dir: &Path, log: &Path) -> TraceNode {
    let addr_file = dir.join("node.addr");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--borough", SOUTHWARK])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log.with_extension("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn");
    let addr = wait_for("node.addr", || {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("node exited: {s}");
        }
        std::fs::read_to_string(&addr_file)
            .ok()
            .map(|s| s.trim().to_string())
    });
    TraceNode { child, addr }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_learner_profile_field_reaches_a_log_line_or_the_store() {
    use prost::Message;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let log = tmp.path().join("node.log");
    let node = start_traced(&dir, &log);
    let url = format!("http://{}", node.addr);
    let token = std::fs::read_to_string(dir.join("admin-token"))
        .expect("token")
        .trim()
        .to_string();
    let ch = tonic::transport::Channel::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut p =
        w::publisher_client::PublisherClient::new(ch.clone()).max_encoding_message_size(64 << 20);
    let f = fixtures();
    publish_batch(
        &mut p,
        &token,
        "fixtures",
        bundle_records(&f).iter().map(op).collect(),
    )
    .await
    .expect("publish");

    // Distinctive values in every field a profile has.
    const EARNINGS: u32 = 918_273_645;
    const BOROUGH: &str = "ZQXLEARNERBOROUGH";
    let learner = LearnerProfile {
        age: Some(97),
        borough: Some(BOROUGH.into()),
        residency: Some(prospectus_model::Residency::AsylumSeeker),
        employment: Some(prospectus_model::Employment::SelfEmployed),
        annual_gross_earnings_pence: Some(EARNINGS),
        means_tested_benefits: Some(true),
        highest_qualification: Some(prospectus_model::Level::L4),
        referred_by_social_prescriber: Some(true),
        first_language_english: Some(false),
        date_of_birth: None,
        gcse_english_grade4: Some(false),
        gcse_maths_grade4: Some(true),
        claiming_jobseeker_benefits: Some(true),
        in_work_benefits: Some(true),
        uk_resident_3_years: Some(false),
    }
    .to_wire();
    let mut dir_client = w::directory_client::DirectoryClient::new(ch);
    for (text, eligible_only, max_fee) in [
        ("anxiety", false, None),
        ("maths", true, Some(0)),
        ("", true, None),
    ] {
        let r = dir_client
            .search(w::SearchRequest {
                text: text.into(),
                learner: Some(learner.clone()),
                eligible_only,
                max_fee_pence: max_fee,
                page_size: 5,
                ..Default::default()
            })
            .await
            .expect("search");
        assert!(r.get_ref().total_hits > 0 || eligible_only);
    }
    // An invalid query carrying the profile, and a course view with it.
    let e = dir_client
        .search(w::SearchRequest {
            learner: Some(learner.clone()),
            radius_km: Some(-1.0),
            ..Default::default()
        })
        .await
        .expect_err("bad radius");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    dir_client
        .get_course(w::GetRequest {
            id: f.courses[0].id.to_string(),
            learner: Some(learner.clone()),
        })
        .await
        .expect("get course");
    drop(dir_client);
    drop(node); // SIGKILL: whatever reached the log or the disk is there now

    let log_text = std::fs::read(&log).expect("log");
    assert!(
        contains(&log_text, b"TRACE"),
        "the node did not log at trace level"
    );
    let encoded = learner.encode_to_vec();
    let mut varint = Vec::new();
    prost::encoding::encode_varint(u64::from(EARNINGS), &mut varint);
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("earnings (decimal)", EARNINGS.to_string().into_bytes()),
        ("borough marker", BOROUGH.as_bytes().to_vec()),
        ("encoded profile", encoded),
        ("earnings (varint)", varint),
        ("field name", b"annual_gross_earnings".to_vec()),
        ("asylum status", b"asylum".to_vec()),
    ];
    let mut files = vec![log.clone(), log.with_extension("stdout")];
    files_under(&dir, &mut files);
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_default();
        for (what, n) in &needles {
            assert!(!contains(&bytes, n), "{what} found in {}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_invalid_argument_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    publish_records(&node, "f", &bundle_records(&fixtures())).await;
    let mut dir = node.directory().await;
    let cases: Vec<(&str, w::SearchRequest)> = vec![
        (
            "radius_km",
            w::SearchRequest {
                postcode: "SE15".into(),
                radius_km: Some(-2.0),
                ..Default::default()
            },
        ),
        (
            "radius_km",
            w::SearchRequest {
                postcode: "SE15".into(),
                radius_km: Some(f64::NAN),
                ..Default::default()
            },
        ),
        (
            "postcode",
            w::SearchRequest {
                postcode: "ZZ99 9ZZ".into(),
                ..Default::default()
            },
        ),
        (
            "postcode",
            w::SearchRequest {
                postcode: "not a postcode".into(),
                ..Default::default()
            },
        ),
        (
            "page_size",
            w::SearchRequest {
                page_size: 1_000_000,
                ..Default::default()
            },
        ),
        (
            "text",
            w::SearchRequest {
                text: "anxiety ".repeat(1280),
                ..Default::default()
            },
        ),
        (
            "categories[0]",
            w::SearchRequest {
                categories: vec![999],
                ..Default::default()
            },
        ),
        (
            "boroughs[0]",
            w::SearchRequest {
                boroughs: vec!["E12000007".into()],
                ..Default::default()
            },
        ),
        (
            "page_token",
            w::SearchRequest {
                page_token: "bm90IGEgdG9rZW4".into(),
                ..Default::default()
            },
        ),
        (
            "sort",
            w::SearchRequest {
                sort: w::SortOrder::Distance as i32,
                ..Default::default()
            },
        ),
        (
            "time_from",
            w::SearchRequest {
                time_from: "25:99".into(),
                ..Default::default()
            },
        ),
        (
            "starts_before",
            w::SearchRequest {
                starts_after: "2026-12-01".into(),
                starts_before: "2026-11-01".into(),
                ..Default::default()
            },
        ),
        (
            "near.lat",
            w::SearchRequest {
                near: Some(w::LatLon {
                    lat: 123.0,
                    lon: 0.0,
                }),
                ..Default::default()
            },
        ),
        (
            "eligible_only",
            w::SearchRequest {
                eligible_only: true,
                ..Default::default()
            },
        ),
    ];
    for (field, req) in cases {
        let e = dir.search(req).await.expect_err(field);
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}: {e:?}");
        let v = violations(&e);
        assert!(
            v.iter().any(|(f, _)| f == field),
            "{field}: violations {v:?}"
        );
    }
    // A token from another sort order is refused too.
    let first = dir
        .search(w::SearchRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    let e = dir
        .search(w::SearchRequest {
            page_size: 1,
            page_token: first.next_page_token,
            sort: w::SortOrder::Fee as i32,
            ..Default::default()
        })
        .await
        .expect_err("token for another sort");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // The node is still serving.
    let ok = dir
        .search(w::SearchRequest {
            text: "anxiety".into(),
            ..Default::default()
        })
        .await
        .expect("search after bad queries");
    assert!(ok.get_ref().total_hits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_is_reported_and_quiet_origins_are_marked_stale_not_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    let records = bundle_records(&f);

    // Default threshold (a week): fresh.
    let mut fresh = Node::start(&tmp.path().join("fresh"), SOUTHWARK);
    publish_records(&fresh, "f", &records).await;
    let req = w::SearchRequest {
        text: "anxiety".into(),
        ..Default::default()
    };
    let r = fresh
        .directory()
        .await
        .search(req.clone())
        .await
        .expect("search")
        .into_inner();
    assert!(r.total_hits > 0);
    for h in &r.hits {
        let fr = h.freshness.as_ref().expect("freshness");
        assert!(!fr.stale);
        assert!(fr.origin_last_seen_unix_millis > 0);
        assert_eq!(fr.provider_last_verified.len(), 10);
        assert_eq!(fr.course_last_verified, "2026-08-15");
    }

    // The index kept in the data dir is reopened at start (not rebuilt), with the same answer.
    fresh.restart();
    let again = fresh
        .directory()
        .await
        .search(req.clone())
        .await
        .expect("search")
        .into_inner();
    assert_eq!(again.total_hits, r.total_hits);
    assert_eq!(hit_ids(&again), hit_ids(&r));
    assert!(fresh.log().contains("how=reopened"), "{}", fresh.log());

    // A threshold of zero: every origin is quiet, results are still there, marked stale.
    let cfg = tmp.path().join("stale.toml");
    std::fs::write(&cfg, "stale_after_secs = 0\n").unwrap();
    let stale = Node::start_with(
        &tmp.path().join("stale"),
        SOUTHWARK,
        &["--config", cfg.to_str().unwrap()],
    );
    publish_records(&stale, "f", &records).await;
    let mut d = stale.directory().await;
    let r = wait_for_async(|| {
        let mut d = d.clone();
        let req = req.clone();
        async move {
            let r = d.search(req).await.ok()?.into_inner();
            r.hits
                .iter()
                .all(|h| h.freshness.as_ref().is_some_and(|f| f.stale))
                .then_some(r)
        }
    })
    .await;
    assert_eq!(r.total_hits, again.total_hits);
    let _ = d.get_course(get_req(f.courses[0].id)).await.expect("get");
}

/// Polls an async probe until it yields `Some`, with the harness deadline.
async fn wait_for_async<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out");
        tokio::task::yield_now().await;
    }
}

/// A full hit trimmed to what `HIT_VIEW_SUMMARY` promises (directory.proto).
fn summarised(mut h: w::SearchHit) -> w::SearchHit {
    if let Some(v) = h.course.as_mut() {
        if let Some(c) = v.course.as_mut() {
            c.description.clear();
            c.eligibility.clear();
            c.url = None;
            c.contact_email = None;
            if let Some(f) = c.fees.as_mut() {
                f.concessions.clear();
            }
        }
        if let Some(p) = v.provider.take() {
            v.provider = Some(w::Provider {
                id: p.id,
                name: p.name,
                last_verified: p.last_verified,
                ..Default::default()
            });
        }
        for venue in &mut v.venues {
            venue.provider_id.clear();
            if let Some(a) = venue.address.as_mut() {
                a.lines.clear();
            }
        }
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_view_answers_the_same_hits_with_a_result_lists_fields() {
    use prost::Message;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let generated = prospectus_dataset::generate(7, 300, None).expect("generate");
    publish_records(&node, "generated", &bundle_records(&generated)).await;
    publish_records(&node, "fixtures", &bundle_records(&fixtures())).await;
    let mut dir = node.directory().await;
    let learner = LearnerProfile {
        age: Some(30),
        borough: Some(SOUTHWARK.into()),
        employment: Some(prospectus_model::Employment::Unemployed),
        ..Default::default()
    }
    .to_wire();
    let requests = [
        w::SearchRequest {
            text: "digital skills".into(),
            ..Default::default()
        },
        w::SearchRequest {
            text: "english".into(),
            learner: Some(learner.clone()),
            page_size: 50,
            ..Default::default()
        },
        w::SearchRequest {
            postcode: "SE15".into(),
            radius_km: Some(5.0),
            sort: w::SortOrder::Distance as i32,
            learner: Some(learner),
            eligible_only: true,
            ..Default::default()
        },
        w::SearchRequest {
            categories: vec![w::Category::Esol as i32],
            sort: w::SortOrder::StartDate as i32,
            page_size: 100,
            ..Default::default()
        },
    ];
    let mut checked_hits = 0;
    for req in requests {
        let ask = |view: w::HitView| w::SearchRequest {
            view: view as i32,
            ..req.clone()
        };
        let full = dir
            .search(ask(w::HitView::Full))
            .await
            .unwrap()
            .into_inner();
        let unset = dir
            .search(ask(w::HitView::Unspecified))
            .await
            .unwrap()
            .into_inner();
        let summary = dir
            .search(ask(w::HitView::Summary))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(unset, full, "{req:?}: unspecified is the full view");
        assert!(
            !full.hits.is_empty(),
            "{req:?}: the fixture matches something"
        );
        assert!(
            summary.encoded_len() < full.encoded_len(),
            "{req:?}: summary {} bytes, full {}",
            summary.encoded_len(),
            full.encoded_len()
        );
        checked_hits += full.hits.len();
        let trimmed = w::SearchResponse {
            hits: full.hits.into_iter().map(summarised).collect(),
            ..full
        };
        assert_eq!(
            summary, trimmed,
            "{req:?}: the same answer, hits trimmed as documented"
        );
    }
    assert!(checked_hits > 20, "{checked_hits} hits compared");

    let bad = dir
        .search(w::SearchRequest {
            view: 99,
            ..Default::default()
        })
        .await
        .expect_err("an unknown view is refused");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("view"), "{}", bad.message());
}
