//! The page's static files, compiled into the binary: the NHS.UK frontend at a pinned version
//! (vendored by `tools/vendor.sh`, fonts and external URLs removed), our own small CSS (print
//! styles) and JS (the shortlist, kept in the browser's local storage, never on the server).

/// `(bytes, content type)` for a path under `/find/assets/`, or `None`.
pub fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    const CSS: &str = "text/css; charset=utf-8";
    const JS: &str = "text/javascript; charset=utf-8";
    const SVG: &str = "image/svg+xml";
    Some(match path {
        "nhsuk-frontend.min.css" => (include_bytes!("../assets/nhsuk-frontend.min.css"), CSS),
        "nhsuk-frontend.min.js" => (include_bytes!("../assets/nhsuk-frontend.min.js"), JS),
        "app.css" => (include_bytes!("../assets/app.css"), CSS),
        "app.js" => (include_bytes!("../assets/app.js"), JS),
        "images/favicon.svg" => (include_bytes!("../assets/images/favicon.svg"), SVG),
        "images/nhsuk-icon-arrow-down.svg" => (
            include_bytes!("../assets/images/nhsuk-icon-arrow-down.svg"),
            SVG,
        ),
        "images/nhsuk-icon-arrow-up.svg" => (
            include_bytes!("../assets/images/nhsuk-icon-arrow-up.svg"),
            SVG,
        ),
        "images/nhsuk-icon-arrow-up-down.svg" => (
            include_bytes!("../assets/images/nhsuk-icon-arrow-up-down.svg"),
            SVG,
        ),
        "images/nhsuk-icon-cross.svg" => {
            (include_bytes!("../assets/images/nhsuk-icon-cross.svg"), SVG)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_url_the_css_names_is_served_and_none_leaves_the_node() {
        let (css, _) = super::asset("nhsuk-frontend.min.css").expect("css");
        let css = std::str::from_utf8(css).expect("utf-8");
        assert!(!css.contains("https://") && !css.contains("http://"));
        for part in css.split("url(").skip(1) {
            let url = part.split(')').next().unwrap_or_default();
            let path = url.strip_prefix("/find/assets/").expect("a node-local URL");
            assert!(super::asset(path).is_some(), "{url} is not served");
        }
    }
}
