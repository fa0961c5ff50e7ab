//! The HTTP surface of a real node: every Open Referral UK endpoint validated against the ORUK
//! validator's own JSON Schemas (tests/data/oruk, CC BY-SA 4.0, see NOTICE), 404 and
//! bad-parameter answers, the RPDE change feed followed to the live set through creates,
//! updates and deletes, `/metrics` scraped and parsed on a 2-node federation, and HTTP over
//! TLS on the gRPC port.

mod common;

use common::*;
use jsonschema::{Resource, Validator};
use prospectus_model::{Record, Uuid};
use prospectus_proto::v1 as w;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;

/// Where the validator publishes the schemas; `open_api.json` refers to them by these URLs.
const BASE: &str = "https://raw.githubusercontent.com/tpximpact/OpenReferralApi/refs/heads/main/OpenReferralApi/Schemas/V3.0-UK/";

// ------------------------------------------------------------------ schemas

struct Schemas {
    /// One validator per schema file (every file except `open_api.json`).
    file: HashMap<String, Validator>,
    /// The response schema `open_api.json` declares for each path, references resolved.
    api: HashMap<String, Validator>,
}

fn load_schemas() -> Schemas {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oruk");
    let mut docs: Vec<(String, Value)> = Vec::new();
    for e in std::fs::read_dir(&dir).expect("schema dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            docs.push((name, v));
        }
    }
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    // Every file is registered under its published URL, so cross-file references resolve
    // locally (no network). Formats (uuid, uri, email, date-time) are asserted, not just noted.
    let options = || {
        let mut o = jsonschema::options().should_validate_formats(true);
        for (n, v) in &docs {
            o = o.with_resource(
                format!("{BASE}{n}"),
                Resource::from_contents(v.clone()).expect("resource"),
            );
        }
        o
    };
    let mut file = HashMap::new();
    for (n, v) in &docs {
        if n == "open_api.json" {
            continue; // an OpenAPI document, not a schema: used through `api` below
        }
        let validator = options()
            .with_base_uri(format!("{BASE}{n}"))
            .build(v)
            .unwrap_or_else(|e| panic!("schema {n} does not compile: {e}"));
        file.insert(n.clone(), validator);
    }
    let openapi = &docs
        .iter()
        .find(|(n, _)| n == "open_api.json")
        .expect("open_api")
        .1;
    let mut api = HashMap::new();
    for path in openapi["paths"].as_object().expect("paths").keys() {
        let pointer = format!(
            "{BASE}open_api.json#/paths/{}/get/responses/200/content/application~1json/schema",
            // JSON Pointer escaping, then percent-encoding for the URI fragment.
            path.replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D")
        );
        let validator = options()
            .build(&json!({ "$ref": pointer }))
            .unwrap_or_else(|e| panic!("open_api.json response schema for {path}: {e}"));
        api.insert(path.clone(), validator);
    }
    let s = Schemas { file, api };
    // The validators are not vacuous: a bad UUID, a bad enum value, a missing required field
    // and a bad email are each refused.
    for bad in [
        json!({"id": "not-a-uuid", "name": "n", "status": "active"}),
        json!({"id": "ac148810-d857-441c-9679-408f346de14b", "name": "n", "status": "open"}),
        json!({"id": "ac148810-d857-441c-9679-408f346de14b", "status": "active"}),
        json!({"id": "ac148810-d857-441c-9679-408f346de14b", "name": "n", "status": "active", "email": "nope"}),
    ] {
        assert!(
            !s.file["service.json"].is_valid(&bad),
            "service.json accepts {bad}"
        );
        assert!(
            !s.api["/services/{id}"].is_valid(&bad),
            "open_api accepts {bad}"
        );
    }
    s
}

fn check(v: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .take(10)
        .map(|e| format!("  at {}: {}", e.instance_path, e))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} fails its schema:\n{}\ninstance: {}",
        errors.join("\n"),
        instance.to_string().chars().take(2000).collect::<String>()
    );
}

impl Schemas {
    /// Validates against the named file and against open_api.json's schema for `api_path`.
    fn both(&self, file: &str, api_path: &str, v: &Value, what: &str) {
        check(&self.file[file], v, &format!("{what} ({file})"));
        check(
            &self.api[api_path],
            v,
            &format!("{what} (open_api {api_path})"),
        );
    }

    /// A page: envelope fields, open_api's page schema, and each item against `item_file`.
    fn page(
        &self,
        api_path: &str,
        list_file: Option<&str>,
        item_file: &str,
        v: &Value,
        what: &str,
    ) {
        if api_path == "/organizations" {
            // open_api.json gives organization_list.json as the whole /organizations response,
            // but that file is an item schema (required id, name, description at top level),
            // not a page: a Page envelope cannot satisfy it. We apply it to each item, which
            // is what it describes (docs/oruk-mapping.md, "Schema quirks").
            for (i, item) in v["contents"]
                .as_array()
                .expect("contents")
                .iter()
                .enumerate()
            {
                check(
                    &self.api[api_path],
                    item,
                    &format!("{what} item {i} (open_api {api_path})"),
                );
            }
        } else {
            check(
                &self.api[api_path],
                v,
                &format!("{what} (open_api {api_path})"),
            );
        }
        if let Some(f) = list_file {
            check(&self.file[f], v, &format!("{what} ({f})"));
        }
        for key in ["total_items", "total_pages", "page_number", "size"] {
            assert!(v[key].is_u64(), "{what}: {key} missing in {v}");
        }
        for key in ["first_page", "last_page", "empty"] {
            assert!(v[key].is_boolean(), "{what}: {key} missing");
        }
        let items = v["contents"].as_array().expect("contents");
        assert_eq!(v["size"].as_u64(), Some(items.len() as u64));
        for (i, item) in items.iter().enumerate() {
            check(
                &self.file[item_file],
                item,
                &format!("{what} item {i} ({item_file})"),
            );
        }
    }
}

// ------------------------------------------------------------------ HTTP/1.1 client

struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn request(addr: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

fn get(addr: &str, path: &str) -> Resp {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(&request(addr, path)).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    parse_response(&raw)
}

fn get_json(addr: &str, path: &str) -> Value {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

// ------------------------------------------------------------------ helpers

async fn publish_ops(node: &Node, key: &str, ops: Vec<w::PublishOp>) {
    publish_batch(&mut node.publisher().await, &node.admin_token(), key, ops)
        .await
        .expect("publish");
}

fn delete_op(id: Uuid) -> w::PublishOp {
    w::PublishOp {
        op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
            kind: w::RecordKind::Course as i32,
            id: id.to_string(),
        })),
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oruk_endpoint_validates_against_the_validator_schemas() {
    let schemas = load_schemas();
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let data = prospectus_dataset::generate(7, 120, Some(SOUTHWARK)).expect("generate");
    let records = bundle_records(&data);
    publish_ops(&node, "oruk-1", records.iter().map(op).collect()).await;
    let a = node.addr.clone();

    // GET /
    let root = get_json(&a, "/");
    schemas.both("api_details.json", "/", &root, "GET /");

    // /services, pages 1..last.
    let live: BTreeSet<String> = data.courses.iter().map(|c| c.id.to_string()).collect();
    let mut seen: Vec<String> = Vec::new();
    let per_page = 25;
    let mut page = 1;
    loop {
        let v = get_json(&a, &format!("/services?page={page}&per_page={per_page}"));
        schemas.page(
            "/services",
            Some("service_list.json"),
            "service.json",
            &v,
            &format!("/services page {page}"),
        );
        assert_eq!(v["page_number"], page);
        assert_eq!(v["total_items"].as_u64(), Some(live.len() as u64));
        assert_eq!(v["first_page"], page == 1);
        seen.extend(ids(&v));
        if v["last_page"] == true {
            assert_eq!(v["total_pages"], page);
            break;
        }
        page += 1;
        assert!(page < 100, "no last page");
    }
    assert_eq!(page, live.len().div_ceil(per_page) as u64);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages are in a stable id order");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        live,
        "every live course once"
    );
    assert_eq!(seen.len(), live.len(), "no duplicates across pages");
    let beyond = get_json(
        &a,
        &format!("/services?page={}&per_page={per_page}", page + 1),
    );
    schemas.page(
        "/services",
        Some("service_list.json"),
        "service.json",
        &beyond,
        "/services beyond last",
    );
    assert_eq!(beyond["empty"], true);

    // /services/{id}, fully nested, for every course.
    for c in &data.courses {
        let v = get_json(&a, &format!("/services/{}", c.id));
        schemas.both(
            "service.json",
            "/services/{id}",
            &v,
            &format!("/services/{}", c.id),
        );
        assert_eq!(v["name"], c.title.as_str());
        assert_eq!(v["organization"]["id"], c.provider_id.to_string());
        let sals = v["service_at_locations"].as_array().expect("sals");
        assert_eq!(sals.len(), c.runs.len());
        for s in sals {
            assert!(s["location"]["id"].is_string(), "location nested");
        }
        assert_eq!(v["schedules"].as_array().map(Vec::len), Some(c.runs.len()));
        assert_eq!(
            v["cost_options"].as_array().map(Vec::len),
            Some(1 + c.fees.concessions.len())
        );
        assert!(!v["attributes"].as_array().expect("attributes").is_empty());
        assert!(!v.to_string().contains("null"), "no null fields: {v}");
        // Derived ids are stable between requests.
        assert_eq!(v, get_json(&a, &format!("/services/{}", c.id)));
    }
    let sample = &data.courses[0];
    let full = get_json(&a, &format!("/services/{}", sample.id));
    if !sample.fees.concessions.is_empty() || !sample.eligibility.is_empty() {
        assert!(
            full.get("required_documents").is_some()
                || prospectus_oruk::documents(sample).is_empty()
        );
    }

    // Variants of the list.
    for q in [
        "full=true&per_page=10",
        "minimal=true&per_page=500",
        "per_page=1000",
    ] {
        let v = get_json(&a, &format!("/services?{q}"));
        schemas.page(
            "/services",
            Some("service_list.json"),
            "service.json",
            &v,
            &format!("/services?{q}"),
        );
    }
    let nd = get(&a, "/services?format=ndjson");
    assert_eq!(nd.status, 200);
    assert!(nd.headers["content-type"].starts_with("application/x-ndjson"));
    let lines: Vec<Value> = nd
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    assert_eq!(
        lines.len(),
        live.len(),
        "ndjson streams everything, unpaged"
    );
    for l in &lines {
        check(&schemas.file["service.json"], l, "ndjson service");
    }

    // Filters.
    let term_id = full["attributes"][0]["taxonomy_term_id"]
        .as_str()
        .expect("term")
        .to_string();
    let tax_id = full["attributes"][0]["taxonomy_term"]["taxonomy_id"]
        .as_str()
        .expect("tax")
        .to_string();
    let by_term = get_json(
        &a,
        &format!("/services?taxonomy_term_id={term_id}&per_page=1000"),
    );
    schemas.page(
        "/services",
        Some("service_list.json"),
        "service.json",
        &by_term,
        "by term",
    );
    let by_term_ids = ids(&by_term);
    assert!(by_term_ids.contains(&sample.id.to_string()));
    for id in by_term_ids.iter().take(10) {
        let s = get_json(&a, &format!("/services/{id}"));
        assert!(
            s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["taxonomy_term_id"] == term_id.as_str())
        );
    }
    let by_tax = get_json(&a, &format!("/services?taxonomy_id={tax_id}&per_page=1000"));
    assert!(ids(&by_tax).len() >= by_term_ids.len());
    let org = sample.provider_id;
    let by_org = get_json(
        &a,
        &format!("/services?organization_id={org}&per_page=1000"),
    );
    let expect_org = data.courses.iter().filter(|c| c.provider_id == org).count();
    assert_eq!(ids(&by_org).len(), expect_org);
    let word = sample
        .title
        .split_whitespace()
        .max_by_key(|w| w.len())
        .unwrap()
        .to_lowercase();
    let by_text = get_json(
        &a,
        &format!(
            "/services?search={}&per_page=1000",
            word.replace(|c: char| !c.is_alphanumeric(), "")
        ),
    );
    assert!(!ids(&by_text).is_empty());
    let modified_all = get_json(
        &a,
        "/services?modified_after=2000-01-01T00:00:00Z&per_page=1000",
    );
    assert_eq!(ids(&modified_all).len(), live.len());
    let modified_none = get_json(&a, "/services?modified_after=2100-01-01");
    assert_eq!(modified_none["total_items"], 0);
    schemas.page(
        "/services",
        Some("service_list.json"),
        "service.json",
        &modified_none,
        "empty page",
    );
    let evening = get_json(&a, "/services?day=MO&start_time=17:00&per_page=1000");
    for id in ids(&evening) {
        let c = data
            .courses
            .iter()
            .find(|c| c.id.to_string() == id)
            .unwrap();
        assert!(
            c.runs
                .iter()
                .any(|r| r.days.contains(&prospectus_model::Weekday::Mon)
                    && r.start_time >= chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap())
        );
    }
    let young = get_json(&a, "/services?minimum_age=16&maximum_age=18&per_page=1000");
    for id in ids(&young) {
        let c = data
            .courses
            .iter()
            .find(|c| c.id.to_string() == id)
            .unwrap();
        let (lo, hi) = prospectus_oruk::age_range(c);
        assert!(lo.is_none_or(|l| l <= 18) && hi.is_none_or(|h| h >= 16));
    }

    // Organizations.
    let orgs = get_json(&a, "/organizations?per_page=1000");
    schemas.page(
        "/organizations",
        None,
        "organization_list.json",
        &orgs,
        "/organizations",
    );
    assert_eq!(
        orgs["total_items"].as_u64(),
        Some(data.providers.len() as u64)
    );
    for p in &data.providers {
        let v = get_json(&a, &format!("/organizations/{}", p.id));
        schemas.both(
            "organization.json",
            "/organizations/{id}",
            &v,
            "/organizations/{id}",
        );
        let v = get_json(&a, &format!("/organizations/{}?full_service=true", p.id));
        check(
            &schemas.file["organization.json"],
            &v,
            "/organizations/{id}?full_service",
        );
    }
    let orgs_full = get_json(&a, "/organizations?full_service=true&per_page=2");
    schemas.page(
        "/organizations",
        None,
        "organization.json",
        &orgs_full,
        "/organizations?full_service",
    );

    // Service at locations.
    let sals = get_json(&a, "/service_at_locations?per_page=50");
    schemas.page(
        "/service_at_locations",
        Some("service_at_location_list.json"),
        "service_at_location.json",
        &sals,
        "/service_at_locations",
    );
    let runs: usize = data.courses.iter().map(|c| c.runs.len()).sum();
    assert_eq!(sals["total_items"].as_u64(), Some(runs as u64));
    for id in ids(&sals).iter().take(20) {
        let v = get_json(&a, &format!("/service_at_locations/{id}"));
        schemas.both(
            "service_at_location.json",
            "/service_at_locations/{id}",
            &v,
            "/service_at_locations/{id}",
        );
        assert!(v["service"]["id"].is_string() && v["location"]["id"].is_string());
    }
    let venue = data
        .venues
        .iter()
        .find(|v| {
            v.address.is_some()
                && v.location.is_some()
                && data
                    .courses
                    .iter()
                    .any(|c| c.runs.iter().any(|r| r.venue_id == v.id))
        })
        .expect("a physical venue in use");
    let pc = venue.address.as_ref().unwrap().postcode.replace(' ', "+");
    let near = get_json(
        &a,
        &format!("/service_at_locations?postcode={pc}&proximity=20000&per_page=1000"),
    );
    schemas.page(
        "/service_at_locations",
        Some("service_at_location_list.json"),
        "service_at_location.json",
        &near,
        "near",
    );
    assert!(
        near["contents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["location_id"] == venue.id.to_string())
    );

    let near_services = get_json(
        &a,
        &format!("/services?postcode={pc}&proximity=20000&per_page=1000"),
    );
    let using: Vec<String> = data
        .courses
        .iter()
        .filter(|c| c.runs.iter().any(|r| r.venue_id == venue.id))
        .map(|c| c.id.to_string())
        .collect();
    for id in &using {
        assert!(
            ids(&near_services).contains(id),
            "course {id} runs near {pc}"
        );
    }
    let far = get_json(
        &a,
        "/services?postcode=TR19+7AA&proximity=1000&per_page=1000",
    );
    assert_eq!(
        far["total_items"], 0,
        "nothing in London is within 1 km of Land's End"
    );

    // Taxonomies and terms.
    let taxes = get_json(&a, "/taxonomies");
    schemas.page(
        "/taxonomies",
        Some("taxonomy_list.json"),
        "taxonomy.json",
        &taxes,
        "/taxonomies",
    );
    for id in ids(&taxes) {
        let v = get_json(&a, &format!("/taxonomies/{id}"));
        schemas.both("taxonomy.json", "/taxonomies/{id}", &v, "/taxonomies/{id}");
    }
    let terms = get_json(&a, "/taxonomy_terms?per_page=1000");
    schemas.page(
        "/taxonomy_terms",
        Some("taxonomy_term_list.json"),
        "taxonomy_term.json",
        &terms,
        "/taxonomy_terms",
    );
    for id in ids(&terms) {
        let v = get_json(&a, &format!("/taxonomy_terms/{id}"));
        schemas.both(
            "taxonomy_term.json",
            "/taxonomy_terms/{id}",
            &v,
            "/taxonomy_terms/{id}",
        );
    }
    let of_tax = get_json(
        &a,
        &format!("/taxonomy_terms?taxonomy_id={tax_id}&per_page=1000"),
    );
    assert!(ids(&of_tax).contains(&term_id));

    // 404s: unknown ids, ids that are not UUIDs, unknown paths. Always a JSON body.
    let unknown = Uuid::new_v4();
    for path in [
        format!("/services/{unknown}"),
        "/services/not-a-uuid".to_string(),
        format!("/organizations/{unknown}"),
        format!("/service_at_locations/{unknown}"),
        format!("/taxonomies/{unknown}"),
        format!("/taxonomy_terms/{unknown}"),
        "/no/such/path".to_string(),
    ] {
        let r = get(&a, &path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
        assert_eq!(r.json()["error"], "not_found", "GET {path}");
    }

    // 400s name the bad parameter.
    for (path, param) in [
        ("/services?page=0", "page"),
        ("/services?page=abc", "page"),
        ("/services?per_page=0", "per_page"),
        ("/services?per_page=100000", "per_page"),
        ("/services?taxonomy_term_id=xyz", "taxonomy_term_id"),
        ("/services?taxonomy_id=1", "taxonomy_id"),
        ("/services?organization_id=nope", "organization_id"),
        ("/services?modified_after=yesterday", "modified_after"),
        ("/services?minimal=perhaps", "minimal"),
        ("/services?full=2", "full"),
        ("/services?format=xml", "format"),
        ("/services?minimum_age=-1", "minimum_age"),
        ("/services?maximum_age=old", "maximum_age"),
        ("/services?minimum_age=30&maximum_age=20", "minimum_age"),
        ("/services?day=funday", "day"),
        ("/services?start_time=25:00", "start_time"),
        ("/services?end_time=noon", "end_time"),
        ("/service_at_locations?postcode=NOTAPOSTCODE", "postcode"),
        (
            "/service_at_locations?postcode=SE1+7PB&proximity=-5",
            "proximity",
        ),
        ("/service_at_locations?proximity=100", "proximity"),
        ("/feeds/services?afterTimestamp=x", "afterTimestamp"),
        ("/feeds/services?afterTimestamp=1&afterId=x", "afterId"),
    ] {
        let r = get(&a, path);
        assert_eq!(r.status, 400, "GET {path}: {}", r.body);
        let v = r.json();
        assert_eq!(v["error"], "bad_parameter", "GET {path}");
        assert_eq!(v["parameter"], param, "GET {path}: {v}");
    }

    // Open CORS, health, readiness; gRPC still answers on the same port.
    let r = get(&a, "/services");
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .map(String::as_str),
        Some("*")
    );
    assert_eq!(get_json(&a, "/healthz")["status"], "ok");
    let ready = get_json(&a, "/readyz");
    assert_eq!(ready["ready"], true, "{ready}");
    let info = head_of(&node).await;
    assert!(info.1 > 0);
}

/// Follows the RPDE feed from `next` until a page is empty; applies items to `state`.
/// Returns the URL to continue from.
fn follow(addr: &str, mut next: String, state: &mut BTreeMap<String, Value>) -> String {
    let mut last: Option<(u64, String)> = None;
    for _ in 0..10_000 {
        let path = next
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()))
            .unwrap_or(next.clone());
        let v = get_json(addr, &path);
        let items = v["items"].as_array().expect("items").clone();
        let following = v["next"].as_str().expect("next").to_string();
        if items.is_empty() {
            assert_eq!(following, next, "an empty page points at itself");
            return following;
        }
        for it in items {
            let key = (
                it["modified"].as_u64().expect("integer modified"),
                it["id"].as_str().expect("id").to_string(),
            );
            if let Some(l) = &last {
                assert!(
                    key > *l,
                    "items strictly ordered by (modified, id): {key:?} after {l:?}"
                );
            }
            last = Some(key.clone());
            assert_eq!(it["kind"], "Service");
            match it["state"].as_str() {
                Some("updated") => {
                    assert_eq!(it["data"]["id"], it["id"]);
                    state.insert(key.1, it["data"].clone());
                }
                Some("deleted") => {
                    assert!(it.get("data").is_none(), "deleted items carry no data");
                    state.remove(&key.1);
                }
                other => panic!("bad state {other:?}"),
            }
        }
        next = following;
    }
    panic!("feed never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_following_the_change_feed_ends_with_exactly_the_live_set() {
    let schemas = load_schemas();
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    let a = node.addr.clone();
    let data = prospectus_dataset::generate(3, 40, Some(SOUTHWARK)).expect("generate");
    publish_ops(
        &node,
        "feed-1",
        bundle_records(&data).iter().map(op).collect(),
    )
    .await;

    let start = format!("http://{a}/feeds/services?afterTimestamp=0&limit=7");
    let mut early = BTreeMap::new();
    let resume = follow(&a, start.clone(), &mut early);
    assert_eq!(early.len(), 40);
    for v in early.values() {
        check(&schemas.file["service.json"], v, "feed item data");
    }

    // Update ten, delete ten (five of them after updating), create five.
    let mut ops = Vec::new();
    for c in &data.courses[..10] {
        let mut c = c.clone();
        c.title = format!("{} (updated)", c.title);
        ops.push(op(&Record::Course(c)));
    }
    publish_ops(&node, "feed-2", ops).await;
    let deleted: Vec<Uuid> = data.courses[5..15].iter().map(|c| c.id).collect();
    publish_ops(
        &node,
        "feed-3",
        deleted.iter().map(|id| delete_op(*id)).collect(),
    )
    .await;
    let mut created = prospectus_dataset::generate(4, 5, Some(SOUTHWARK)).expect("generate");
    for c in &mut created.courses {
        // Reuse this node's providers and venues so the new courses are complete.
        c.provider_id = data.courses[20].provider_id;
        let venue = data.courses[20].runs[0].venue_id;
        for r in &mut c.runs {
            r.venue_id = venue;
        }
    }
    publish_ops(
        &node,
        "feed-4",
        created
            .courses
            .iter()
            .cloned()
            .map(Record::Course)
            .map(|r| op(&r))
            .collect(),
    )
    .await;

    // The live set, as the server's own list says.
    let all = get_json(&a, "/services?per_page=1000&full=true");
    let live: BTreeMap<String, Value> = all["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s.clone()))
        .collect();
    assert_eq!(live.len(), 40 - 10 + 5);

    // A consumer that kept following, and one starting from scratch, agree with it exactly.
    let mut fresh = BTreeMap::new();
    follow(&a, start, &mut fresh);
    let _ = follow(&a, resume, &mut early);
    for state in [&early, &fresh] {
        assert_eq!(
            state.keys().collect::<Vec<_>>(),
            live.keys().collect::<Vec<_>>()
        );
        for (id, v) in state {
            assert_eq!(v["name"], live[id]["name"], "latest state of {id}");
        }
    }
    for c in &data.courses[..5] {
        assert!(
            fresh[&c.id.to_string()]["name"]
                .as_str()
                .unwrap()
                .ends_with("(updated)")
        );
    }
    for id in &deleted {
        assert!(!fresh.contains_key(&id.to_string()));
    }
}

/// Parses Prometheus text exposition: `name{labels} value` samples, every line accounted for.
fn parse_metrics(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((n, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels {line:?}"));
                let mut m = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label {pair:?}"));
                    m.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (n.to_string(), m)
            }
        };
        out.push((name, labels, value));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_and_show_lag_per_origin_on_two_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &[]);
    let b = fleet.start(1, &[]);
    let data = prospectus_dataset::generate(5, 30, Some(BOROUGHS[0])).expect("generate");
    let records = bundle_records(&data);
    let start = std::time::Instant::now();
    loop {
        match publish_batch(
            &mut a.publisher().await,
            &a.admin_token(),
            "m-1",
            records.iter().map(op).collect(),
        )
        .await
        {
            Ok(_) => break,
            Err(s) if s.code() == tonic::Code::Unavailable && start.elapsed() < DEADLINE => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(s) => panic!("publish: {s:?}"),
        }
    }
    let b_addr = b.addr.clone();
    wait_for("b has every course", || {
        let v = get(&b_addr, "/services?minimal=true&per_page=1000");
        (v.status == 200 && v.json()["total_items"] == 30).then_some(())
    });
    let _ = get(&b_addr, "/services/not-a-uuid");

    let origin = BOROUGHS[0];
    let samples = wait_for("lag gauge for the origin", || {
        let r = get(&b_addr, "/metrics");
        assert_eq!(r.status, 200);
        assert!(r.headers["content-type"].starts_with("text/plain"));
        let s = parse_metrics(&r.body);
        // The search index follows the store asynchronously: wait for it too.
        let indexed = s
            .iter()
            .any(|(n, _, v)| n == "prospectus_index_courses" && *v == 30.0);
        (indexed
            && s.iter().any(|(n, l, _)| {
                n == "prospectus_replication_lag_entries"
                    && l.get("origin").map(String::as_str) == Some(origin)
            }))
        .then_some(s)
    });
    let find = |name: &str, pred: &dyn Fn(&BTreeMap<String, String>) -> bool| -> Vec<f64> {
        samples
            .iter()
            .filter(|(n, l, _)| n == name && pred(l))
            .map(|(_, _, v)| *v)
            .collect()
    };
    let lag = find("prospectus_replication_lag_entries", &|l| {
        l.get("origin").map(String::as_str) == Some(origin)
    });
    assert_eq!(lag, vec![0.0], "converged: no lag");
    let applied = find("prospectus_entries_applied_total", &|l| {
        l.get("origin").map(String::as_str) == Some(origin)
    });
    assert!(
        applied.first().is_some_and(|v| *v >= records.len() as f64),
        "applied {applied:?}"
    );
    assert_eq!(find("prospectus_index_courses", &|_| true), vec![30.0]);
    assert!(
        find("prospectus_store_bytes", &|_| true)
            .first()
            .is_some_and(|v| *v > 0.0)
    );
    let http = find("prospectus_requests_total", &|l| {
        l.get("kind").map(String::as_str) == Some("http")
            && l.get("route").map(String::as_str) == Some("/services")
    });
    assert!(
        http.first().is_some_and(|v| *v >= 1.0),
        "http route counted"
    );
    let not_found = find("prospectus_requests_total", &|l| {
        l.get("route").map(String::as_str) == Some("/services/{id}")
            && l.get("status").map(String::as_str) == Some("404")
    });
    assert_eq!(not_found, vec![1.0]);
    assert!(
        !find("prospectus_request_duration_seconds_bucket", &|l| l
            .get("route")
            .map(String::as_str)
            == Some("/services")
            && l.contains_key("le"))
        .is_empty(),
        "latency histogram per route"
    );

    // gRPC calls are counted per method: b's link calls a's Federation/Subscribe.
    let a_metrics = parse_metrics(&get(&a.addr, "/metrics").body);
    assert!(
        a_metrics
            .iter()
            .any(|(n, l, v)| n == "prospectus_requests_total"
                && l.get("kind").map(String::as_str) == Some("grpc")
                && l.get("route")
                    .is_some_and(|r| r.starts_with("/prospectus.v1.Federation/"))
                && *v >= 1.0),
        "gRPC method counted on a"
    );
    assert!(
        a_metrics
            .iter()
            .any(|(n, l, _)| n == "prospectus_requests_total"
                && l.get("route").map(String::as_str)
                    == Some("/prospectus.v1.Publisher/PublishBatch"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_is_served_over_tls_on_the_grpc_port() {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // A CA and a server certificate for localhost.
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
    let ca_pem = root.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    let (c, k) = (root.join("node.crt"), root.join("node.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    write_secret(&k, key.serialize_pem().as_bytes());
    let node = Node::start_with(
        &root.join("n"),
        SOUTHWARK,
        &[
            "--tls-cert",
            c.to_str().unwrap(),
            "--tls-key",
            k.to_str().unwrap(),
            "--federation-ca",
            ca_pem.to_str().unwrap(),
        ],
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca_pem).unwrap())
        .unwrap();
    let plain = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Python's and Node's HTTP clients offer only http/1.1 in ALPN.
    let mut http11 = plain.clone();
    http11.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (plain, http11) = (std::sync::Arc::new(plain), std::sync::Arc::new(http11));
    let get_with = |config: &std::sync::Arc<rustls::ClientConfig>, path: &str| -> Resp {
        let conn = rustls::ClientConnection::new(
            config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let tcp = std::net::TcpStream::connect(&node.addr).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(&request("localhost", path)).unwrap();
        let mut raw = Vec::new();
        match s.read_to_end(&mut raw) {
            Ok(_) => {}
            // Servers may close without close_notify after `Connection: close`.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => panic!("tls read: {e}"),
        }
        parse_response(&raw)
    };
    let get_tls = |path: &str| get_with(&plain, path);
    let r = get_with(&http11, "/services");
    assert_eq!(r.status, 200, "HTTP/1.1 negotiated by ALPN: {}", r.body);
    let r = get_tls("/");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], "HSDS-UK-3.0");
    assert_eq!(get_tls("/readyz").status, 200);
    // gRPC (HTTP/2 over the same TLS port) still answers.
    let s = node.status().await;
    assert_eq!(s.origin, SOUTHWARK);
    let feed = get_tls("/feeds/services");
    assert!(
        feed.json()["next"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}
