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
