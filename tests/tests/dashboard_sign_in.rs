//! Dashboard sign-in: `voxgate users create`, the cookie's attributes, sign-out and expiry,
//! attempt limits (429 with Retry-After, per account and per address), CSRF, one workspace per
//! user, and the two front doors kept apart (no API key on the dashboard, no cookie on the
//! control plane).

use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use voxgate_tests::dashboard::{create_user, sign_in_reply, Dashboard};
use voxgate_tests::{eventually, voxgate_bin, Fixture, Server, ServerOptions};

const PASSWORD: &str = "a long enough password";

fn users_create(data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(voxgate_bin())
        .args(["users", "create", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("VOXGATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxgate users create");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        writeln!(input, "{text}").expect("write");
    }
    drop(input);
    child.wait_with_output().expect("output")
}

#[test]
fn users_create_prints_a_one_time_password_or_takes_one_from_stdin() {
    let server = Server::start();
    let out = users_create(&server.data_dir, &["--workspace", "acme", "--email", "Ana@Example.com"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let password = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
    assert_eq!(password.len(), 20, "the password alone on stdout: {password:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ana@example.com") && stderr.contains("\"acme\""), "{stderr}");
    // It signs in at once on the running server (the email is not case sensitive).
    Dashboard::sign_in(&server, "ANA@example.com", &password);
    // The store keeps only an argon2id hash.
    let db = std::fs::read(server.data_dir.join("voxgate.sqlite")).expect("db");
    let text = String::from_utf8_lossy(&db);
    assert!(!text.contains(&password));

    let out =
        users_create(&server.data_dir, &["--email", "bo@example.com", "--password-stdin"], Some(PASSWORD));
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed when the password came from stdin");
    Dashboard::sign_in(&server, "bo@example.com", PASSWORD);

    for (args, stdin, says) in [
        (vec!["--email", "ana@example.com"], None, "already"),
        (vec!["--email", "not-an-email"], None, "not an email"),
        (vec!["--email", "c@example.com", "--password-stdin"], Some("short"), "at least 12"),
    ] {
        let out = users_create(&server.data_dir, &args, stdin);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn the_cookie_is_http_only_strict_and_secure_on_https() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--public-url".into(), "https://voice.example.com".into()],
        ..Default::default()
    });
    create_user(&server, "acme", "ana@example.com", PASSWORD);
    let r = sign_in_reply(&server.url, "ana@example.com", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = r.header("set-cookie").expect("cookie").to_ascii_lowercase();
    assert!(cookie.starts_with("__host-vg_dashboard=vg_si_"), "{cookie}");
    for attribute in ["httponly", "samesite=strict", "secure", "path=/", "max-age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }

    let plain = Server::start();
    create_user(&plain, "acme", "ana@example.com", PASSWORD);
    let cookie = sign_in_reply(&plain.url, "ana@example.com", PASSWORD)
        .header("set-cookie")
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("vg_dashboard=vg_si_") && !cookie.contains("Secure"), "{cookie}");
}

#[test]
fn sign_out_and_expiry_end_the_sign_in() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--sign-in-ttl-seconds".into(), "1".into()],
        ..Default::default()
    });
    create_user(&server, "acme", "ana@example.com", PASSWORD);
    let d = Dashboard::sign_in(&server, "ana@example.com", PASSWORD);
    eventually(Duration::from_secs(10), || (d.get("/dashboard/agents").status == 303).then_some(()));
    assert_eq!(d.get("/dashboard/agents").header("location"), Some("/dashboard/sign-in"));

    let server = Server::start();
    create_user(&server, "acme", "ana@example.com", PASSWORD);
    let d = Dashboard::sign_in(&server, "ana@example.com", PASSWORD);
    assert_eq!(d.post_raw("/dashboard/sign-out", &[]).status, 403, "sign-out needs the CSRF token too");
    let out = d.post("/dashboard/sign-out", &[]);
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0") || c.contains("max-age=0")));
    assert_eq!(d.get("/dashboard/agents").status, 303, "the old cookie opens nothing");
}

#[test]
fn failed_attempts_are_limited_per_account_and_per_address_with_retry_after() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec![
            "--sign-in-attempts-per-account".into(),
            "2".into(),
            "--sign-in-attempts-per-address".into(),
            "5".into(),
        ],
        ..Default::default()
    });
    create_user(&server, "acme", "ana@example.com", PASSWORD);
    // Successes never count: more sign-ins than either limit, all admitted.
    for _ in 0..6 {
        assert_eq!(sign_in_reply(&server.url, "ana@example.com", PASSWORD).status, 303);
    }
    // A success clears the account's failures: fail, succeed, fail again, still admitted.
    assert_eq!(sign_in_reply(&server.url, "ana@example.com", "wrong password!").status, 401);
    assert_eq!(sign_in_reply(&server.url, "ana@example.com", PASSWORD).status, 303);
    for _ in 0..2 {
        let r = sign_in_reply(&server.url, "ana@example.com", "wrong password!");
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.text.contains("sign_in_failed"));
    }
    let r = sign_in_reply(&server.url, "ana@example.com", PASSWORD);
    assert_eq!(r.status, 429, "two failures spent the account, even for the right password");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    assert!(r.text.contains("rate_limited"));
    // The address has failed 3 times of its 5: two more, then every account is refused from here.
    for email in ["x@example.com", "y@example.com"] {
        assert_eq!(sign_in_reply(&server.url, email, "wrong password!").status, 401);
    }
    let r = sign_in_reply(&server.url, "z@example.com", "wrong password!");
    assert_eq!(r.status, 429, "{}", r.text);
}

#[test]
fn each_user_sees_only_their_workspace_and_keys_never_open_the_dashboard() {
    let f = Fixture::new();
    create_user(&f.server, "acme", "ana@example.com", PASSWORD);
    create_user(&f.server, "rival", "rob@example.com", PASSWORD);
    let ana = Dashboard::sign_in(&f.server, "ana@example.com", PASSWORD);
    let rob = Dashboard::sign_in(&f.server, "rob@example.com", PASSWORD);
    assert!(ana.get(&format!("/dashboard/widgets/{}", f.widget)).text.contains("Shop"));
    let s = f.session(json!({}));
    let conversation = f.record(&s)["conversation_id"].as_str().expect("conversation").to_string();
    for path in [
        format!("/dashboard/agents/{}", f.agent),
        format!("/dashboard/widgets/{}", f.widget),
        format!("/dashboard/widgets/{}/distribute", f.widget),
        format!("/dashboard/widgets/{}/preview", f.widget),
        format!("/dashboard/conversations/{conversation}"),
    ] {
        let r = rob.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert!(r.text.contains("not_found"));
    }
    let r = rob.post(
        &format!("/dashboard/widgets/{}/origins", f.widget),
        &[("allowed_origins", "https://rob.example")],
    );
    assert_eq!(r.status, 404);
    let r = rob.post(&format!("/dashboard/widgets/{}/preview-sessions?csrf={}", f.widget, rob.csrf), &[]);
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(!rob.get("/dashboard/conversations").text.contains(&conversation));
    assert!(ana.get("/dashboard/conversations").text.contains(&conversation));

    // A workspace key is no sign-in, and a sign-in cookie is no key.
    let with_key = ana
        .http
        .get(format!("{}/dashboard/agents", ana.base))
        .header("Authorization", format!("Bearer {}", f.key))
        .send()
        .expect("get");
    assert_eq!(with_key.status().as_u16(), 303);
    let control =
        ana.http.get(format!("{}/v1/agents", ana.base)).header("Cookie", &ana.cookie).send().expect("get");
    assert_eq!(control.status().as_u16(), 401);
}

#[test]
fn state_changes_need_the_csrf_token_and_a_same_site_origin() {
    let f = Fixture::new();
    create_user(&f.server, "acme", "ana@example.com", PASSWORD);
    let d = Dashboard::sign_in(&f.server, "ana@example.com", PASSWORD);
    let path = format!("/dashboard/widgets/{}/origins", f.widget);
    let fields = [("allowed_origins", "https://evil.example")];
    let r = d.post_raw(&path, &fields);
    assert_eq!(r.status, 403);
    assert!(r.text.contains("csrf_invalid") && r.text.contains("no CSRF token"), "{}", r.text);
    let r = d.post_raw(&path, &[("csrf", "forged"), fields[0]]);
    assert_eq!(r.status, 403);
    // The right token from another site is refused too (Fetch Metadata, then Origin).
    let cross = |header: (&str, &str)| {
        d.http
            .post(format!("{}{path}", d.base))
            .header("Cookie", &d.cookie)
            .header(header.0, header.1)
            .form(&[("csrf", d.csrf.as_str()), fields[0]])
            .send()
            .expect("post")
            .status()
            .as_u16()
    };
    assert_eq!(cross(("Sec-Fetch-Site", "cross-site")), 403);
    assert_eq!(cross(("Origin", "https://evil.example")), 403);
    let widget = f.api.control("GET", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect(200).body;
    assert_eq!(widget["version"], 1);
    assert_eq!(d.post(&path, &fields).status, 303, "with the token it saves");
}
