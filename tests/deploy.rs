//! The admin-facing files in `deploy/` stay true to the program: every `prospectus` command in
//! the RUNBOOK names real subcommands and flags, and the example configs and rosters parse with
//! the node's own config type. (The systemd unit and the compose file are checked by
//! `systemd-analyze verify` and `docker-compose config` in `.ci/run`.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_prospectus");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn help(path: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(path)
        .arg("--help")
        .output()
        .expect("run prospectus");
    assert!(
        out.status.success(),
        "`prospectus {} --help` failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Subcommand names listed under "Commands:" in a help text.
fn subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect()
}

/// `prospectus …` command lines in the RUNBOOK's shell blocks, continuation lines joined.
fn runbook_commands() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("deploy/RUNBOOK.md")).expect("RUNBOOK");
    let mut cmds = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = t.split(" #").next().unwrap_or("").trim_end();
        if let Some(cont) = code.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let full = std::mem::take(&mut pending);
        let mut words: Vec<&str> = full.split_whitespace().collect();
        if words.first() == Some(&"sudo") {
            words.remove(0);
            if words.first() == Some(&"-u") {
                words.drain(..2.min(words.len()));
            }
        }
        if words
            .first()
            .is_some_and(|w| *w == "prospectus" || w.ends_with("/prospectus"))
        {
            cmds.push(words[1..].iter().map(|s| s.to_string()).collect());
        }
    }
    cmds
}

#[test]
fn every_runbook_command_uses_real_subcommands_and_flags() {
    let cmds = runbook_commands();
    let mut used = BTreeSet::new();
    for words in &cmds {
        let mut path: Vec<&str> = Vec::new();
        let mut i = 0;
        loop {
            let subs = subcommands(&help(&path));
            match words.get(i) {
                Some(w) if subs.contains(w.as_str()) => {
                    path.push(w);
                    i += 1;
                }
                _ => break,
            }
        }
        assert!(
            !path.is_empty(),
            "RUNBOOK runs `prospectus {}`: no such subcommand",
            words.join(" ")
        );
        let h = help(&path);
        for w in &words[i..] {
            if let Some(flag) = w.strip_prefix("--") {
                let flag = format!("--{}", flag.split('=').next().unwrap_or(flag));
                assert!(
                    h.contains(&format!("{flag} ")) || h.contains(&format!("{flag}\n")),
                    "RUNBOOK uses `{flag}` with `prospectus {}`, which has no such flag",
                    path.join(" ")
                );
            }
        }
        used.insert(path.join(" "));
    }
    for needed in [
        "serve",
        "keygen",
        "token create",
        "token revoke",
        "key rotate",
        "publish",
        "status",
        "info",
        "backup",
        "restore",
        "token enable",
    ] {
        assert!(
            used.contains(needed),
            "RUNBOOK never shows `prospectus {needed}`"
        );
    }
}

#[test]
fn example_configs_parse_with_the_nodes_config_type() {
    let files = [
        "deploy/node.example.toml",
        "deploy/example/southwark.toml",
        "deploy/example/lambeth.toml",
        "deploy/example/lewisham.toml",
    ];
    for f in files {
        let cfg = prospectus_server::NodeConfig::load(&root().join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let b = cfg.borough.as_deref().expect("borough");
        assert!(
            prospectus_geo_borough(b),
            "{f}: {b} is not a London borough"
        );
        assert!(cfg.tls.is_some(), "{f}: no TLS");
        assert!(
            cfg.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            "{f}: no mTLS"
        );
        assert!(cfg.federation.roster.is_some(), "{f}: no roster");
        assert!(!cfg.insecure_dev, "{f}: insecure");
    }
}

fn prospectus_geo_borough(code: &str) -> bool {
    // The CLI's own list: `prospectus boroughs`.
    let out = Command::new(BIN)
        .arg("boroughs")
        .output()
        .expect("boroughs");
    String::from_utf8_lossy(&out.stdout).contains(code)
}

#[test]
fn example_rosters_have_the_roster_shape() {
    for f in ["deploy/roster.example.toml", "deploy/example/roster.toml"] {
        let text = std::fs::read_to_string(root().join(f)).expect("roster");
        let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        let members = v["member"].as_array().expect("[[member]]");
        assert_eq!(members.len(), 3, "{f}: three boroughs");
        for m in members {
            let t = m.as_table().expect("member table");
            for k in t.keys() {
                assert!(
                    ["origin", "name", "endpoint", "tls_name", "keys"].contains(&k.as_str()),
                    "{f}: unknown member field {k}"
                );
            }
            assert!(prospectus_geo_borough(
                t["origin"].as_str().expect("origin")
            ));
            assert!(
                t["endpoint"]
                    .as_str()
                    .expect("endpoint")
                    .starts_with("https://")
            );
            for k in t["keys"].as_array().expect("keys") {
                for key in k.as_table().expect("key").keys() {
                    assert!(
                        ["public_key", "valid_from", "valid_until", "revoked"]
                            .contains(&key.as_str()),
                        "{f}: unknown key field {key}"
                    );
                }
            }
        }
    }
}
