//! What the widget loads besides the API: `GET /widget.js` (versioned, cacheable, revalidated
//! by ETag) and a workspace's Trust Center page.

use serde_json::json;
use voxgate_tests::{Fixture, SITE};

#[test]
fn the_widget_script_is_versioned_and_cacheable() {
    let f = Fixture::new();
    let r = f.api.send(f.api.http.get(f.api.url("/widget.js"))).expect(200);
    assert!(r.header("content-type").unwrap().starts_with("application/javascript"));
    let version = r.header("x-voxgate-widget-version").unwrap().to_string();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(r.text.contains(&format!("voxgate widget {version}")), "the version is in the file too");
    assert!(!r.text.contains("__VERSION__"));
    assert!(r.header("cache-control").unwrap().contains("max-age="));
    let etag = r.header("etag").unwrap().to_string();
    let again = f.api.send(f.api.http.get(f.api.url("/widget.js")).header("If-None-Match", &etag));
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
    // The script has no third-party runtime dependencies: no imports, no other hosts.
    assert!(!r.text.contains("import ") && !r.text.contains("require("));
}

#[test]
fn the_trust_center_shows_public_widgets_posture_only_when_enabled() {
    let f = Fixture::new();
    let ws = f.api.control("GET", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect(200).body;
    let config =
        f.api.browser("GET", &format!("/v1/widgets/{}/config", f.widget), Some(SITE), None).expect(200).body;
    assert!(config.get("trust_center_url").is_none(), "{config}");
    let workspace =
        ws["workspace_id"].as_str().unwrap_or_else(|| panic!("the widget names its workspace: {ws}"));
    let page = format!("/trust/{workspace}");
    expect_not_found_page(&f, &page);

    f.patch_widget(json!({
        "appearance": {"title": "Shop <helper>"},
        "privacy": {
            "consent_required": true,
            "terms_text": "We record this chat & keep it 30 days.",
            "trust_center": {"enabled": true, "privacy_policy_url": "https://shop.example.com/privacy",
                             "subprocessors_url": "https://shop.example.com/subprocessors"},
        },
    }));
    let config =
        f.api.browser("GET", &format!("/v1/widgets/{}/config", f.widget), Some(SITE), None).expect(200).body;
    assert!(config["trust_center_url"].as_str().unwrap().ends_with(&page), "{config}");
    let html = f.api.send(f.api.http.get(f.api.url(&page))).expect(200).text;
    assert!(
        html.contains("https://shop.example.com/privacy")
            && html.contains("https://shop.example.com/subprocessors")
    );
    assert!(html.contains("Shop &lt;helper&gt;"), "workspace text is escaped: {html}");
    assert!(html.contains("We record this chat &amp; keep it 30 days."));
    assert!(html.contains("Required"));
    expect_not_found_page(&f, "/trust/ws_nope");
    expect_not_found_page(&f, "/trust/not-a-workspace");
}

/// A Trust Center that does not exist is a page a person can read, not a JSON error.
fn expect_not_found_page(f: &Fixture, path: &str) {
    let r = f.api.send(f.api.http.get(f.api.url(path))).expect(404);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{:?}", r.headers);
    assert!(r.text.contains("No Trust Center here"), "{}", r.text);
}
