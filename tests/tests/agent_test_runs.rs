//! `POST /v1/agents/{id}/test-runs`: pass and fail per case, counted as test-run usage only,
//! and refused once the test-run fair use is spent.

use serde_json::json;
use voxgate_tests::{Fixture, Server, ServerOptions};

#[test]
fn a_test_run_reports_each_case_and_counts_as_test_run_usage() {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec!["--test-run-text-messages-per-day".into(), "4".into()],
        ..Default::default()
    }));
    let path = format!("/v1/agents/{}/test-runs", f.agent);
    let r = f.api.control("POST", &path, &f.key, None).expect_error(400, "invalid_request");
    assert!(r.text.contains("no tests"), "{}", r.text);

    f.patch_agent(json!({
        "knowledge": [{"title": "Shipping", "text": "Express shipping costs 9 euros."},
                      {"title": "Returns", "text": "Returns are free within 30 days."}],
        "tests": [
            {"input": "How much is express shipping?", "expect": {"contains": "9 EUROS"}},
            {"input": "Who painted the Mona Lisa?", "expect": {"contains": "Leonardo"}},
            {"input": "Can I send a return?", "expect": {"regex": "\\d+ days"}},
        ],
    }));
    let run = f.api.control("POST", &path, &f.key, None).expect(200).body;
    assert_eq!(
        (run["passed"].as_u64(), run["failed"].as_u64(), run["errors"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{run:#}"
    );
    let statuses: Vec<&str> =
        run["results"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["passed", "failed", "passed"]);
    assert_eq!(run["results"][1]["answer"], "I don't know that yet.");
    assert_eq!(run["results"][1]["expect"], json!({"contains": "Leonardo"}));
    assert!(run["results"][0]["answer"].as_str().unwrap().contains("9 euros"));

    let u = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(u["usage"]["test_run"]["text_messages"], 3, "{u:#}");
    assert_eq!(u["usage"]["production"]["text_messages"], 0, "{u:#}");

    // One case fits the fair use left: it runs, the rest report the refusal.
    let run = f.api.control("POST", &path, &f.key, None).expect(200).body;
    let statuses: Vec<&str> =
        run["results"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["passed", "error", "error"], "{run:#}");
    assert_eq!(run["results"][1]["error"]["code"], "fair_use_exceeded");
    // Nothing left: the run is refused.
    f.api.control("POST", &path, &f.key, None).expect_error(429, "fair_use_exceeded");
    let other = f.server.create_key("other");
    f.api.control("POST", &path, &other, None).expect_error(404, "not_found");
}
