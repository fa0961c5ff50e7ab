//! The `prospectus` command line against a real node: generate, publish (JSON and CSV), search,
//! token create; bad files exit non-zero naming where the problem is and publish nothing.

mod common;

use common::*;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run prospectus")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn generate_publish_search_and_tokens_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let url = node.url();
    let token_file = node.dir.join("admin-token");
    let token_file = token_file.to_str().unwrap();
    let json = tmp.path().join("offer.json");

    let o = run(&[
        "dataset",
        "generate",
        "--seed",
        "3",
        "--courses",
        "150",
        "--borough",
        SOUTHWARK,
        "--out",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "publish",
        "--node",
        &url,
        "--token-file",
        token_file,
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("published"), "{}", text(&o));

    let o = run(&[
        "search",
        "--node",
        &url,
        "--borough",
        SOUTHWARK,
        "--json",
        "--page-size",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    assert_eq!(v["total_hits"], 150);
    assert_eq!(v["hits"].as_array().map(Vec::len), Some(3));

    // Learner flags reach the evaluator.
    let o = run(&[
        "search",
        "--node",
        &url,
        "--json",
        "--age",
        "30",
        "--lives-in",
        SOUTHWARK,
        "--employment",
        "unemployed",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    assert!(v["hits"][0]["evaluation"]["fee_pence"].is_u64(), "{v}");

    // A provider token, printed once on stdout.
    let bundle: prospectus_dataset::Bundle =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pid = bundle.providers[0].id.to_string();
    let o = run(&[
        "token",
        "create",
        "--node",
        &url,
        "--token-file",
        token_file,
        "--provider",
        &pid,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .starts_with("pst_")
    );

    // Bad input: a flag value the CLI can't parse, and an unknown category.
    let o = run(&["search", "--node", &url, "--category", "astrology"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown category"), "{}", text(&o));
}

/// The example offer with one cell replaced: `row` is the file row (header = 1).
fn example_with(row: usize, column: &str, value: &str) -> String {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example-offer.csv");
    let good = std::fs::read_to_string(&example).expect("docs/example-offer.csv");
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("{column} column"));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(lines[row - 1].as_bytes());
    let mut rec: Vec<String> = rdr
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    rec[col] = value.into();
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(vec![]);
    w.write_record(&rec).unwrap();
    lines[row - 1] = String::from_utf8(w.into_inner().unwrap())
        .unwrap()
        .trim_end()
        .to_string();
    lines.join("\n") + "\n"
}

#[test]
fn a_bad_csv_names_row_and_column_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let url = node.url();
    let token_file = node.dir.join("admin-token");
    for (row, column, value, validated) in [
        // A time that does not exist: the file cannot even be read.
        (4, "start_time", "25:00", false),
        // Records that lie: verified in the future, a run in the year 9999 (read, then refused).
        (4, "last_verified", "9999-12-31", true),
        (5, "start", "9999-01-01", true),
    ] {
        let bad = tmp.path().join("bad.csv");
        std::fs::write(&bad, example_with(row, column, value)).unwrap();
        let o = run(&[
            "publish",
            "--node",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            bad.to_str().unwrap(),
        ]);
        assert!(!o.status.success(), "{column}={value} accepted");
        let out = text(&o);
        assert!(
            out.contains(&format!("row {row}")) && out.contains(column),
            "{column}={value}: {out}"
        );
        if validated {
            assert!(out.contains("nothing was published"), "{out}");
        }
    }

    let o = run(&["search", "--node", &url, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 0, "nothing was published");
}

/// `prospectus publish --node NODE --token-file ADMIN-TOKEN ARGS…`.
fn publish_to(node: &Node, args: &[&str]) -> Output {
    let (url, token_file) = (node.url(), node.dir.join("admin-token"));
    let mut all = vec![
        "publish",
        "--node",
        &url,
        "--token-file",
        token_file.to_str().expect("path"),
    ];
    all.extend_from_slice(args);
    run(&all)
}

/// A node holding `n` generated Southwark courses, published with the CLI.
fn node_with_courses(tmp: &std::path::Path, n: usize) -> Node {
    let node = Node::start(&tmp.join("node"), SOUTHWARK);
    let json = tmp.join("offer.json");
    let o = run(&[
        "dataset",
        "generate",
        "--courses",
        &n.to_string(),
        "--borough",
        SOUTHWARK,
        "--out",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = publish_to(&node, &[json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    node
}

#[test]
fn search_into_a_closed_pipe_exits_quietly_with_success() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_courses(tmp.path(), 40);
    let url = node.url();

    // A pipe whose reader is already gone: the first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = Command::new(BIN)
        .args(["search", "--node", &url, "--page-size", "40"])
        .stdout(writer)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {stderr}", o.status);
    assert!(stderr.trim().is_empty(), "not quiet: {stderr}");

    // The shell's way, with the pipeline failing if prospectus fails.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {BIN} search --node {url} --page-size 40 | head -1"
        ))
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {stderr}", o.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
}

#[test]
fn learner_circumstances_come_from_a_file_or_stdin_as_from_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node_with_courses(tmp.path(), 30);
    let url = node.url();
    let search = |extra: &[&str], stdin: Option<&str>| -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["search", "--node", &url, "--json", "--page-size", "30"])
            .args(extra);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            input
                .write_all(stdin.unwrap_or("").as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("search")
    };
    let evaluations = |o: &Output| -> Vec<serde_json::Value> {
        assert!(o.status.success(), "{}", text(o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        v["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| serde_json::json!([h["id"], h["evaluation"]]))
            .collect()
    };
    let flags = evaluations(&search(
        &[
            "--age",
            "30",
            "--lives-in",
            SOUTHWARK,
            "--employment",
            "unemployed",
            "--benefits",
            "true",
        ],
        None,
    ));
    assert!(
        flags.iter().all(|e| e[1].is_object()),
        "the flags were evaluated"
    );
    let profile = format!(
        "# the client's circumstances\nage 30\nlives-in = {SOUTHWARK}\nemployment unemployed\nbenefits true\n"
    );
    let file = tmp.path().join("learner.txt");
    std::fs::write(&file, &profile).unwrap();
    let from_file = evaluations(&search(&["--learner-file", file.to_str().unwrap()], None));
    assert_eq!(from_file, flags);
    let from_stdin = evaluations(&search(&["--learner", "-"], Some(&profile)));
    assert_eq!(from_stdin, flags);

    // Both at once, and a line the learner flags do not know, are refused plainly.
    let o = search(&["--age", "30", "--learner", "-"], Some(&profile));
    assert!(!o.status.success());
    assert!(text(&o).contains("not both"), "{}", text(&o));
    let o = search(&["--learner", "-"], Some("age 30\nshoe-size 9\n"));
    assert!(!o.status.success());
    assert!(text(&o).contains("shoe-size"), "{}", text(&o));
}

#[test]
fn a_tls_failure_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert_path, key_path, ca_path) = tls_files(tmp.path(), &["localhost"]);
    let node = Node::start_with(
        &tmp.path().join("node"),
        SOUTHWARK,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let port = node.addr.rsplit(':').next().unwrap();
    let by_name = format!("https://localhost:{port}");
    let ca_file = ca_path.to_str().unwrap();

    let o = run(&["search", "--node", &by_name]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("pass the federation CA with --ca"),
        "{}",
        text(&o)
    );
    let o = run(&["search", "--node", &by_name, "--ca", ca_file]);
    assert!(o.status.success(), "{}", text(&o));
    // The certificate names localhost, not 127.0.0.1.
    let by_ip = format!("https://127.0.0.1:{port}");
    let o = run(&["search", "--node", &by_ip, "--ca", ca_file]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not issued for this host name"),
        "{}",
        text(&o)
    );
}

/// The provider of `docs/dfe-sample` (a DfE sheet names no provider record).
const DFE_PROVIDER: &str = "7d1f0c3e-5b2a-4c8d-9e6f-0a1b2c3d4e5f";

fn dfe_sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/dfe-sample")
        .join(name)
}

#[test]
fn a_dfe_course_directory_upload_publishes_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let publish = || {
        publish_to(
            &node,
            &[
                "--provider",
                DFE_PROVIDER,
                "--providers",
                dfe_sample("provider.csv").to_str().unwrap(),
                "--venues",
                dfe_sample("venues.csv").to_str().unwrap(),
                dfe_sample("courses.csv").to_str().unwrap(),
            ],
        )
    };
    let o = publish();
    assert!(o.status.success(), "{}", text(&o));
    // The provider, 3 venues, 1 online room and 5 courses, in one batch.
    assert!(text(&o).contains("published 10 records"), "{}", text(&o));

    let o = run(&[
        "search",
        "--node",
        &node.url(),
        "--json",
        "--page-size",
        "50",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 5, "{v}");
    let titles: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["title"].as_str())
        .collect();
    assert!(
        titles.contains(&"ESOL Entry 2 Speaking and Listening"),
        "{titles:?}"
    );
    let art = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["title"] == "Watercolour Painting for Beginners")
        .expect("watercolour");
    assert_eq!(art["full_fee_pence"], 12000, "COST 120.0000 is £120");

    // Evening only: the evening ESOL run and the evening maths and mindfulness courses.
    let o = run(&[
        "search",
        "--node",
        &node.url(),
        "--json",
        "--attendance",
        "evening",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 3, "{v}");

    // The same sheet again updates the same records: still five courses.
    let o = publish();
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["search", "--node", &node.url(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 5, "republishing duplicated courses: {v}");
}

#[test]
fn a_bad_dfe_row_names_file_row_and_column_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let good = std::fs::read_to_string(dfe_sample("courses.csv")).unwrap();
    let venues = std::fs::read_to_string(dfe_sample("venues.csv")).unwrap();
    for (courses, venues, want) in [
        // Work-based delivery cannot be listed (row 4 is the digital course).
        (
            good.replacen("PCL-DIGI-1,classroom based", "PCL-DIGI-1,work based", 1),
            venues.clone(),
            vec!["course file row 4, column DELIVERY_MODE"],
        ),
        // An evening pattern that starts at 10:00, and a venue the venues file lacks.
        (
            good.replacen("part time,daytime,esol", "part time,evening,esol", 1)
                .replacen(
                    ",CMB-CTR,,,https://www.peckham-community-learning.org.uk/courses/maths",
                    ",NOWHERE,,,https://www.peckham-community-learning.org.uk/courses/maths",
                    1,
                ),
            venues.clone(),
            vec![
                "course file row 2, column ATTENDANCE_PATTERN",
                "course file row 5, column YOUR_VENUE_REFERENCE",
            ],
        ),
        // A venue postcode that is not one, and a date in US order.
        (
            good.replacen("19/04/2027", "04/19/2027", 1),
            venues.replacen("SE1 5PU", "NOT A POSTCODE", 1),
            vec![
                "venues file row 4, column POSTCODE",
                "course file row 3, column START_DATE",
            ],
        ),
    ] {
        let (c, v) = (
            tmp.path().join("courses.csv"),
            tmp.path().join("venues.csv"),
        );
        std::fs::write(&c, &courses).unwrap();
        std::fs::write(&v, &venues).unwrap();
        let o = publish_to(
            &node,
            &[
                "--provider",
                DFE_PROVIDER,
                "--providers",
                dfe_sample("provider.csv").to_str().unwrap(),
                "--venues",
                v.to_str().unwrap(),
                c.to_str().unwrap(),
            ],
        );
        assert!(!o.status.success(), "accepted: {want:?}");
        let out = text(&o);
        for w in &want {
            assert!(out.contains(w), "{w} not in: {out}");
        }
        assert!(out.contains("nothing was published"), "{out}");
    }
    let o = run(&["search", "--node", &node.url(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 0, "nothing was published");
}

/// `dataset generate --borough X` for two boroughs with the same seed gives two offers that a
/// two-node federation holds side by side: no record id of one is another origin's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_boroughs_generated_with_one_seed_federate_without_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let nodes = [fleet.start(0, &[]), fleet.start(1, &[])];
    let mut heads = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let out = tmp.path().join(format!("offer-{i}.json"));
        let o = run(&[
            "dataset",
            "generate",
            "--courses",
            "40",
            "--borough",
            BOROUGHS[i],
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let b = prospectus_dataset::read_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let r = publish_when_ready(node, &format!("offer-{i}"), &bundle_records(&b))
            .await
            .expect("publish");
        heads.push((r.epoch, r.last_seq));
    }
    for (i, node) in nodes.iter().enumerate() {
        let other = 1 - i;
        let s = wait_status(node, "the other borough's offer, verified", |s| {
            converged(s, BOROUGHS[other], heads[other])
        })
        .await;
        let rejected: u64 = s.peers.iter().map(|p| p.rejected).sum();
        assert_eq!(rejected, 0, "node {i} refused entries: {s:#?}");
    }
    let dir = nodes[0].directory().await;
    wait_for_async(|| {
        let mut dir = dir.clone();
        async move {
            let r = dir
                .search(prospectus_proto::v1::SearchRequest {
                    page_size: 1,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            (r.total_hits == 80).then_some(())
        }
    })
    .await;
}

/// The CSV template's three sheets (providers, venues, courses) publish as one batch, no JSON.
#[test]
fn providers_venues_and_courses_publish_from_the_csv_template_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let doc = |f: &str| docs.join(f).to_str().unwrap().to_string();
    let publish = |venues: &str| {
        publish_to(
            &node,
            &[
                "--providers",
                &doc("example-providers.csv"),
                "--venues",
                venues,
                &doc("example-offer.csv"),
            ],
        )
    };
    // A venue whose postcode is not one: the venues sheet's row and column, nothing published.
    let bad = tmp.path().join("venues.csv");
    let venues = std::fs::read_to_string(docs.join("example-venues.csv")).unwrap();
    std::fs::write(&bad, venues.replacen("SE5 8RE", "SE5 8R", 1)).unwrap();
    let o = publish(bad.to_str().unwrap());
    assert!(!o.status.success());
    assert!(text(&o).contains("row 4, column postcode"), "{}", text(&o));
    assert!(text(&o).contains("nothing was published"), "{}", text(&o));
    let o = run(&["search", "--node", &node.url(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 0);

    let o = publish(&doc("example-venues.csv"));
    assert!(o.status.success(), "{}", text(&o));
    // 3 providers, 4 venues, 3 courses.
    assert!(text(&o).contains("published 10 records"), "{}", text(&o));
    let o = run(&["search", "--node", &node.url(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 3, "{v}");
    let providers: std::collections::BTreeSet<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["provider"].as_str())
        .collect();
    assert!(providers.contains("Mind in Southwark"), "{providers:?}");
}

#[test]
fn a_generated_offer_in_the_csv_template_publishes_without_json() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let out = tmp.path().join("offer.csv");
    let o = run(&[
        "dataset",
        "generate",
        "--courses",
        "60",
        "--borough",
        SOUTHWARK,
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let sheet = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let o = publish_to(
        &node,
        &[
            "--providers",
            &sheet("offer-providers.csv"),
            "--venues",
            &sheet("offer-venues.csv"),
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "search",
        "--node",
        &node.url(),
        "--json",
        "--page-size",
        "1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["total_hits"], 60, "{v}");
}
