//! Rate limits (issue 18): per client address on browser endpoints, per session on messages
//! and offers and trickles, per workspace key on the control plane, and per widget on sessions
//! created, each answered 429 rate_limited with Retry-After and counted by kind (never by
//! address). Forwarding headers count only from --trusted-proxies.

use serde_json::json;
use voxgate_tests::text::Answer;
use voxgate_tests::{Fixture, Reply, Server, ServerOptions, SITE};

fn server(args: &[&str]) -> Fixture {
    Fixture::on(Server::start_with(ServerOptions {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }))
}

#[track_caller]
fn limited(r: &Reply) {
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
}

fn metric(f: &Fixture, kind: &str) -> u64 {
    let text = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    let line = format!("voxgate_rate_limited_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).map_or(0, |v| v.trim().parse().expect("number"))
}

fn config(f: &Fixture, forwarded_for: Option<&str>) -> Reply {
    let mut req =
        f.api.http.get(f.api.url(&format!("/v1/widgets/{}/config", f.widget))).header("Origin", SITE);
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    f.api.send(req)
}

#[test]
fn browser_requests_are_limited_per_address_and_proxies_are_believed_only_when_trusted() {
    let f = server(&["--rate-limit-per-address", "5"]);
    for _ in 0..5 {
        config(&f, None).expect(200);
    }
    let r = config(&f, None);
    limited(&r);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE), "the widget can read why");
    // A client cannot pick another address: the header is ignored from untrusted peers.
    limited(&config(&f, Some("198.51.100.7")));
    assert_eq!(metric(&f, "address"), 2);

    let f = server(&["--rate-limit-per-address", "2", "--trusted-proxies", "127.0.0.0/8"]);
    for ip in ["198.51.100.1", "198.51.100.2"] {
        config(&f, Some(ip)).expect(200);
        config(&f, Some(ip)).expect(200);
        limited(&config(&f, Some(ip)));
    }
    config(&f, Some("198.51.100.3")).expect(200);
    let text = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    assert!(!text.contains("198.51.100"), "no address in any metric");
}

#[test]
fn a_session_is_limited_in_messages_and_offers() {
    let f = server(&["--rate-limit-messages-per-session", "2", "--rate-limit-offers-per-session", "1"]);
    let s = f.session(json!({}));
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    for _ in 0..2 {
        Answer::ask(&f.api, url, SITE, token, "Hello?").expect("taken").rest();
    }
    let refused = Answer::ask(&f.api, url, SITE, token, "Again?").err().expect("refused");
    limited(&refused);
    // Another session has its own allowance.
    let other = f.session(json!({}));
    Answer::ask(
        &f.api,
        other["messages_url"].as_str().unwrap(),
        SITE,
        other["session_token"].as_str().unwrap(),
        "Hi",
    )
    .expect("taken")
    .rest();

    let webrtc = s["webrtc_url"].as_str().unwrap();
    let offer = |body: &str| {
        f.api.send(
            f.api
                .http
                .post(f.api.url(webrtc))
                .header("Origin", SITE)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/sdp")
                .body(body.to_string()),
        )
    };
    assert_eq!(offer("v=0\r\n").status, 400, "the first offer is judged on its merits");
    limited(&offer("v=0\r\n"));
    assert_eq!((metric(&f, "messages"), metric(&f, "offers")), (1, 1));
}

#[test]
fn a_call_is_limited_in_trickled_candidates() {
    let f = server(&["--rate-limit-trickles-per-session", "2"]);
    let s = f.session(json!({"mode": "voice"}));
    let call = f.call(&s);
    let token = s["session_token"].as_str().unwrap();
    let trickle = || {
        f.api.send(
            f.api
                .http
                .patch(f.api.url(&call.location))
                .header("Origin", SITE)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/trickle-ice-sdpfrag")
                .body("a=end-of-candidates\r\n"),
        )
    };
    trickle().expect(204);
    trickle().expect(204);
    limited(&trickle());
    assert_eq!(metric(&f, "trickles"), 1);
}

#[test]
fn a_key_is_limited_on_the_control_plane_and_a_widget_on_sessions() {
    let f = server(&["--rate-limit-per-key", "40"]);
    f.patch_widget(json!({"sessions_per_minute": 2}));
    f.session(json!({}));
    f.session(json!({}));
    let r = f.api.control("POST", &format!("/v1/widgets/{}/sessions", f.widget), &f.key, Some(json!({})));
    limited(&r);
    assert!(r.text.contains("sessions_per_minute"), "{}", r.text);
    f.patch_widget(json!({"sessions_per_minute": 0}));
    f.session(json!({}));
    assert_eq!(metric(&f, "widget_sessions"), 1);
    let bad = f.api.control(
        "PATCH",
        &format!("/v1/widgets/{}", f.widget),
        &f.key,
        Some(json!({"sessions_per_minute": -1})),
    );
    assert_eq!((bad.status, bad.body["error"]["field"].as_str()), (400, Some("sessions_per_minute")));

    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(f.api.control("GET", "/v1/agents", &f.key, None));
    }
    let refused = statuses.iter().filter(|r| r.status == 429).count();
    assert!(refused > 0, "the key's 40 a minute ran out");
    limited(statuses.iter().find(|r| r.status == 429).expect("a refusal"));
    assert!(metric(&f, "key") >= refused as u64);
}
