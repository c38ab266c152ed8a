//! Preview from the dashboard: `preview: true` sessions that the dashboard's own page may use
//! (the widget's allowlist does not name it), counted only as preview usage; when preview fair
//! use is spent, the preview says so. And `voxgate demo` prints a dashboard user that signs in.

use serde_json::json;
use voxgate_tests::dashboard::{create_user, Dashboard};
use voxgate_tests::text::Answer;
use voxgate_tests::{Fixture, Server, ServerOptions};

const PASSWORD: &str = "a long enough password";

fn text_used(d: &Dashboard, class: &str) -> u64 {
    let page = d.get("/dashboard/usage").text;
    let marker = format!("data-class=\"{class}\" data-voice-used=\"");
    let at = page.find(&marker).expect("class row") + marker.len();
    let rest = &page[at..];
    let text = rest.split("data-text-used=\"").nth(1).expect("text used");
    text.split('"').next().expect("number").parse().expect("a number")
}

#[test]
fn previews_count_only_as_preview_and_say_when_fair_use_is_spent() {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec!["--preview-text-messages-per-day".into(), "1".into()],
        ..Default::default()
    }));
    create_user(&f.server, "acme", "ana@example.com", PASSWORD);
    let d = Dashboard::sign_in(&f.server, "ana@example.com", PASSWORD);
    let page = d.get(&format!("/dashboard/widgets/{}/preview", f.widget));
    assert_eq!(page.status, 200);
    assert!(page.text.contains(&format!("data-widget=\"{}\"", f.widget)));
    assert!(!page.text.contains("data-fair-use-spent"));

    // The widget's session route on the preview page: a preview session.
    let url = format!("/dashboard/widgets/{}/preview-sessions?csrf={}", f.widget, d.csrf);
    let s = d.post_raw(&url, &[]);
    assert_eq!(s.status, 201, "{}", s.text);
    assert!(
        d.post_raw(&format!("/dashboard/widgets/{}/preview-sessions", f.widget), &[]).status == 403,
        "CSRF"
    );
    let (messages, token) =
        (s.body["messages_url"].as_str().unwrap(), s.body["session_token"].as_str().unwrap());
    let record = f.record(&s.body);
    assert_eq!(record["preview"], true);

    // The dashboard's origin is not in the widget's allowlist, yet its preview may talk.
    let own = d.base.clone();
    let mut answer =
        Answer::ask(&f.api, messages, &own, token, "Hello?").unwrap_or_else(|r| panic!("{}", r.text));
    answer.rest();
    assert_eq!((text_used(&d, "preview"), text_used(&d, "production")), (1, 0));
    // A non-preview session is not let in from the dashboard's origin.
    let live = f.session(json!({}));
    let refused = Answer::ask(
        &f.api,
        live["messages_url"].as_str().unwrap(),
        &own,
        live["session_token"].as_str().unwrap(),
        "Hi",
    )
    .err()
    .expect("refused");
    assert_eq!(refused.code(), "origin_not_allowed");

    // Fair use spent: the next preview message is refused plainly, and the page says so.
    let spent = Answer::ask(&f.api, messages, &own, token, "Again?").err().expect("refused");
    assert_eq!((spent.status, spent.code()), (429, "fair_use_exceeded"), "{}", spent.text);
    let page = d.get(&format!("/dashboard/widgets/{}/preview", f.widget)).text;
    assert!(page.contains("data-fair-use-spent") && page.contains("preview fair use is spent"), "{page}");
    assert_eq!(text_used(&d, "production"), 0);
    // An allowlist save does not end the preview session (it is bound to no site).
    f.patch_widget(json!({"allowed_origins": ["https://other.example"]}));
    assert_eq!(f.record(&s.body)["status"], "live");
}

#[test]
fn the_demo_prints_a_dashboard_user_that_signs_in() {
    let mut server = Server::start_with(ServerOptions { demo: true, ..Default::default() });
    // Printed once the server listens, after its start-up line.
    let line = server.wait_for_line("dashboard:", std::time::Duration::from_secs(10));
    assert!(line.contains(&format!("{}/dashboard", server.url)), "{line}");
    let password = line.split("password ").nth(1).expect("password").trim_end_matches(')').trim().to_string();
    let d = Dashboard::sign_in(&server, "demo@localhost", &password);
    let widgets = d.get("/dashboard/widgets").text;
    assert!(widgets.contains("voxgate demo widget"), "the demo user sees the demo workspace");
}
