//! A headless Chromium under chromedriver, for the page tests: started on a port the kernel
//! picks, with a fresh profile (so its history file is this test's alone), and killed with its
//! whole process group when the guard drops. Every wait polls the page with a deadline.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// As the node harness: generous, since CI runs on 2 cores with every test binary's nodes.
const DEADLINE: Duration = Duration::from_secs(60);
/// axe-core, pinned and vendored by crates/web/tools/vendor.sh.
const AXE: &str = include_str!("../../crates/web/tests/axe.min.js");

pub struct Browser {
    driver: Child,
    client: Option<Client>,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts a browser; `javascript: false` turns scripts off for every page.
    pub async fn start(javascript: bool) -> Browser {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver not found: install Debian's chromium and chromium-driver (.ci/run does)");
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('.').trim().to_string());
                }
            }
        });
        let port = rx
            .recv_timeout(DEADLINE)
            .expect("chromedriver did not say which port it listens on");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut prefs = json!({});
        if !javascript {
            prefs = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": prefs,
            }
        });
        let caps: serde_json::Map<String, Value> =
            serde_json::from_value(caps).expect("capabilities are an object");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            driver,
            client: Some(client),
            profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    pub async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigate");
    }

    pub async fn url(&self) -> String {
        self.c().current_url().await.expect("url").to_string()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let start = Instant::now();
        loop {
            match self.c().find(Locator::Css(css)).await {
                Ok(e) => return e,
                Err(e) => assert!(start.elapsed() < DEADLINE, "no element {css}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.expect("type");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .expect("select");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn checked(&self, css: &str) -> bool {
        self.find(css).await.is_selected().await.expect("checked")
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Waits until an element matching `css` exists and its text contains `want`.
    pub async fn wait_text(&self, css: &str, want: &str) {
        let start = Instant::now();
        loop {
            if let Ok(e) = self.c().find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t.contains(want)
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {css} to say {want:?} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses Tab until the focused element matches `css` (keyboard users reach everything
    /// by Tab, in order).
    pub async fn tab_to(&self, css: &str) {
        for _ in 0..300 {
            let hit = self
                .c()
                .execute(
                    "return document.activeElement && document.activeElement.matches(arguments[0]);",
                    vec![json!(css)],
                )
                .await
                .expect("activeElement");
            if hit == json!(true) {
                return;
            }
            self.keys(&fantoccini::key::Key::Tab).await;
        }
        panic!("Tab never reached {css} on {}", self.url().await);
    }

    /// Types into whatever has focus.
    pub async fn keys(&self, keys: &str) {
        self.c()
            .active_element()
            .await
            .expect("focus")
            .send_keys(keys)
            .await
            .expect("keys");
    }

    /// Runs axe-core on the current page for WCAG 2.2 A and AA; panics listing violations.
    pub async fn axe(&self, page: &str) {
        self.c().execute(AXE, vec![]).await.expect("inject axe");
        let r = self
            .c()
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values:
                   ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa']}})
                   .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' — ' +
                     v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("run axe");
        let violations: Vec<String> = serde_json::from_value(r).expect("violations list");
        assert!(
            violations.is_empty(),
            "{page}: axe found {} violation(s):\n{}",
            violations.len(),
            violations.join("\n")
        );
    }

    /// With `PROSPECTUS_SCREENSHOTS=DIR` set, saves the page as `DIR/{name}-1280.png` and
    /// `DIR/{name}-375.png` (how docs/screenshots/ is made); otherwise does nothing.
    pub async fn shots(&self, name: &str) {
        let Some(dir) = std::env::var_os("PROSPECTUS_SCREENSHOTS") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for width in [1280, 375] {
            self.screenshot(width, &dir.join(format!("{name}-{width}.png")))
                .await;
        }
    }

    /// Saves a screenshot of the whole page at `width` pixels wide.
    async fn screenshot(&self, width: u32, path: &std::path::Path) {
        self.c().set_window_size(width, 1000).await.expect("resize");
        let height = self
            .c()
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .expect("height")
            .as_u64()
            .unwrap_or(1000);
        let height = u32::try_from(height).unwrap_or(4000).clamp(600, 6000);
        self.c()
            .set_window_size(width, height)
            .await
            .expect("resize");
        let png = self.c().screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
        self.c().set_window_size(1280, 1000).await.expect("resize");
    }

    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            c.close().await.expect("close session");
        }
    }

    /// Ends the session (Chromium flushes its profile) and returns the history database's bytes.
    pub async fn close_and_read_history(mut self) -> Vec<u8> {
        if let Some(c) = self.client.take() {
            c.close().await.expect("close session");
        }
        let path: PathBuf = self.profile.path().join("Default").join("History");
        let start = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(&path)
                && !bytes.is_empty()
            {
                return bytes;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no history file at {}",
                path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started share one process group.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--"])
            .arg(format!("-{}", self.driver.id()))
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
