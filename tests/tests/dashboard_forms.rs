//! Every dashboard form refuses bad values with the field named, keeps what was typed, and
//! saves nothing; no input on any dashboard route gets a 5xx. Driven over HTTP like a browser
//! (the browser itself is in tests/browser/dashboard.test.mjs).

use serde_json::json;
use voxgate_tests::dashboard::{create_user, field_error, Dashboard};
use voxgate_tests::Fixture;

const PASSWORD: &str = "a long enough password";

/// A form's fields as (name, value).
type Fields<'a> = Vec<(&'a str, &'a str)>;
/// Uploaded files as (field, file name, bytes).
type Files<'a> = Vec<(&'a str, &'a str, Vec<u8>)>;
/// A widget section's bad case: section, fields, the field named, what its message says.
type SectionCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

fn signed_in() -> (Fixture, Dashboard) {
    let f = Fixture::new();
    create_user(&f.server, "acme", "owner@example.com", PASSWORD);
    let d = Dashboard::sign_in(&f.server, "owner@example.com", PASSWORD);
    (f, d)
}

fn widget_version(f: &Fixture) -> serde_json::Value {
    f.api.control("GET", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect(200).body
}

#[test]
fn widget_sections_refuse_bad_values_by_field_and_save_nothing() {
    let (f, d) = signed_in();
    f.patch_widget(json!({"name": "Shop", "appearance": {"title": "Saved title"}}));
    let saved = widget_version(&f);
    let long = "x".repeat(101);
    let cases: &[SectionCase] = &[
        (
            "setup",
            &[("name", ""), ("environment", "staging"), ("modes", "text")],
            "name",
            "must not be empty",
        ),
        ("setup", &[("name", "Shop"), ("environment", "staging")], "modes", "at least one"),
        ("setup", &[("name", "Shop"), ("environment", "moon"), ("modes", "text")], "environment", "moon"),
        (
            "setup",
            &[
                ("name", "Shop"),
                ("agent_id", "ag_nosuchagent"),
                ("environment", "staging"),
                ("modes", "text"),
            ],
            "agent_id",
            "ag_nosuchagent",
        ),
        (
            "setup",
            &[
                ("name", "Shop"),
                ("environment", "staging"),
                ("modes", "text"),
                ("sessions_per_minute", "lots"),
            ],
            "sessions_per_minute",
            "lots",
        ),
        (
            "setup",
            &[
                ("name", "Shop"),
                ("environment", "staging"),
                ("modes", "text"),
                ("sessions_per_minute", "5000000"),
            ],
            "sessions_per_minute",
            "at most",
        ),
        (
            "origins",
            &[("allowed_origins", "https://ok.example\nftp://files.example")],
            "allowed_origins",
            "ftp://files.example",
        ),
        (
            "origins",
            &[("allowed_origins", "https://shop.example.com/path")],
            "allowed_origins",
            "shop.example.com/path",
        ),
        (
            "appearance",
            &[
                ("appearance.title", "T"),
                ("appearance.primary_color", "red"),
                ("appearance.background_color", "#ffffff"),
                ("appearance.text_color", "#000000"),
                ("appearance.position", "bottom-right"),
            ],
            "appearance.primary_color",
            "red",
        ),
        (
            "appearance",
            &[
                ("appearance.title", &long),
                ("appearance.primary_color", "#000000"),
                ("appearance.background_color", "#ffffff"),
                ("appearance.text_color", "#000000"),
                ("appearance.position", "bottom-right"),
            ],
            "appearance.title",
            "limit is 100",
        ),
        (
            "appearance",
            &[
                ("appearance.title", "T"),
                ("appearance.primary_color", "#000000"),
                ("appearance.background_color", "#ffffff"),
                ("appearance.text_color", "#000000"),
                ("appearance.position", "middle"),
            ],
            "appearance.position",
            "middle",
        ),
        (
            "appearance",
            &[
                ("appearance.title", "T"),
                ("appearance.primary_color", "#000000"),
                ("appearance.background_color", "#ffffff"),
                ("appearance.text_color", "#000000"),
                ("appearance.position", "bottom-right"),
                ("appearance.avatar_url", "javascript:alert(1)"),
            ],
            "appearance.avatar_url",
            "",
        ),
        (
            "content",
            &[("content.input_placeholder", "Ask"), ("content.launcher_label", &"y".repeat(61))],
            "content.launcher_label",
            "limit is 60",
        ),
        ("actions", &[("actions", "Book a demo https://acme.example")], "actions", "line 1"),
        ("actions", &[("actions", "Book | not a url")], "actions", "not a url"),
        ("actions", &[("page_actions", "show product")], "page_actions", "client tool"),
        (
            "privacy",
            &[("privacy.consent_required", "on"), ("privacy.terms_text", "")],
            "privacy.terms_text",
            "consent",
        ),
        (
            "privacy",
            &[("privacy.trust_center.enabled", "on")],
            "privacy.trust_center.privacy_policy_url",
            "trust center",
        ),
        ("privacy", &[("privacy.recording", "on")], "privacy.recording", "consent_required"),
        (
            "privacy",
            &[("privacy.recording_retention_days", "forever")],
            "privacy.recording_retention_days",
            "whole number of days",
        ),
        (
            "privacy",
            &[("privacy.trust_center.privacy_policy_url", "file:///etc/passwd")],
            "privacy.trust_center.privacy_policy_url",
            "file:///etc/passwd",
        ),
    ];
    for (section, fields, field, says) in cases {
        let r = d.post(&format!("/dashboard/widgets/{}/{section}", f.widget), fields);
        assert_eq!(r.status, 400, "{section} {fields:?}: {}", r.text);
        let message =
            field_error(&r.text, field).unwrap_or_else(|| panic!("no error on {field}: {}", r.text));
        assert!(message.contains(says), "{field}: {message:?} should say {says:?}");
        assert!(r.text.contains("Nothing was saved"), "{section}");
        // What was typed is shown again, escaped.
        for (_, v) in fields.iter().filter(|(_, v)| v.len() > 2 && !v.contains('\n')) {
            let escaped =
                v.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&#34;").replace('\'', "&#39;");
            assert!(r.text.contains(&escaped) || r.text.contains(*v), "{section}: {v:?} kept");
        }
        assert_eq!(widget_version(&f), saved, "{section} {fields:?} saved nothing");
    }
}

#[test]
fn the_agent_form_refuses_bad_values_by_field_and_saves_nothing() {
    let (f, d) = signed_in();
    f.patch_agent(json!({"knowledge": [{"title": "Kept", "text": "Saved knowledge."}]}));
    let path = format!("/dashboard/agents/{}", f.agent);
    let before = f.api.control("GET", &path.replace("/dashboard", "/v1"), &f.key, None).expect(200).body;
    let base = [("name", "Support"), ("backend.type", "builtin"), ("voice", "")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> =
            base.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).copied().collect();
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Fields, Files, &str, &str)> = vec![
        (with(&[("name", "")]), vec![], "name", "must not be empty"),
        (with(&[("backend.type", "gpt")]), vec![], "backend.type", "gpt"),
        (
            with(&[("backend.type", "openai"), ("backend.base_url", "not a url"), ("backend.model", "m")]),
            vec![],
            "backend.base_url",
            "",
        ),
        (
            with(&[("backend.type", "bridge"), ("backend.url", "https://x.example")]),
            vec![],
            "backend.url",
            "",
        ),
        (with(&[("voice", "{\"type\": ")]), vec![], "voice", "not valid JSON"),
        (with(&[("voice", "{\"type\": \"whisper\"}")]), vec![], "voice", "whisper"),
        (with(&[("voice.type", "whisper")]), vec![], "voice.type", "whisper"),
        (
            with(&[("voice.type", "builtin"), ("voice.turn_detection.silence_duration_ms", "half a second")]),
            vec![],
            "voice.turn_detection.silence_duration_ms",
            "not a whole number",
        ),
        (
            with(&[("voice.type", "realtime"), ("voice.base_url", "https://api.example.com/v1")]),
            vec![],
            "voice.model",
            "",
        ),
        (with(&[("knowledge.0.title", " ")]), vec![], "knowledge", "no title"),
        (with(&[("knowledge.0.text", "")]), vec![], "knowledge", "Kept&#34; has no text"),
        (with(&[("tests", "What does it cost? 20 dollars")]), vec![], "tests", "line 1"),
        (with(&[("tests", "What? | /(unclosed/")]), vec![], "tests", "regex"),
        (with(&[("knowledge.new.title", "Pasted")]), vec![], "knowledge.new.text", "paste"),
        (with(&[]), vec![("knowledge.files", "notes.pdf", b"%PDF".to_vec())], "knowledge.files", "notes.pdf"),
        (
            with(&[]),
            vec![("knowledge.files", "latin1.txt", vec![0xe9, 0xe8, 0xff])],
            "knowledge.files",
            "UTF-8",
        ),
        (with(&[]), vec![("knowledge.files", "empty.md", b"  \n".to_vec())], "knowledge.files", "empty"),
        (
            with(&[]),
            vec![("knowledge.files", "huge.txt", "a".repeat(200_001).into_bytes())],
            "knowledge",
            "huge",
        ),
    ];
    for (fields, files, field, says) in cases {
        let r = d.post_multipart(&path, &fields, files);
        assert_eq!(r.status, 400, "{fields:?}: {}", r.text);
        let message =
            field_error(&r.text, field).unwrap_or_else(|| panic!("no error on {field}: {}", r.text));
        assert!(message.contains(says), "{field}: {message:?} should say {says:?}");
        let now = f.api.control("GET", &path.replace("/dashboard", "/v1"), &f.key, None).expect(200).body;
        assert_eq!(now, before, "{fields:?} saved nothing");
    }
    // A file over the upload limit is refused before it is read whole, naming it.
    let r = d.post_multipart(&path, &base, vec![("knowledge.files", "big.md", vec![b'a'; 600 * 1024])]);
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(r.text.contains("big.md"), "{}", r.text);
}

/// The voice settings are a form: each type's fields save as the agent's voice JSON, and the
/// page shows them back; the JSON stays one choice away.
#[test]
fn the_voice_form_saves_each_type_and_shows_it_back() {
    let (f, d) = signed_in();
    let path = format!("/dashboard/agents/{}", f.agent);
    let saved = || f.api.control("GET", &format!("/v1/agents/{}", f.agent), &f.key, None).expect(200).body;
    let base = [("name", "Support"), ("backend.type", "builtin")];
    let post = |extra: &[(&str, &str)]| {
        let mut fields: Vec<(&str, &str)> = base.to_vec();
        fields.extend_from_slice(extra);
        let r = d.post_multipart(&path, &fields, vec![]);
        assert_eq!(r.status, 303, "{extra:?}: {}", r.text);
    };
    post(&[
        ("voice.type", "pipeline"),
        ("voice.transcription.base_url", "https://stt.example.com/v1"),
        ("voice.transcription.model", "whisper-1"),
        ("voice.transcription.language", "en"),
        ("voice.speech.base_url", "https://tts.example.com/v1"),
        ("voice.speech.model", "tts-1"),
        ("voice.speech.voice", "alloy"),
        ("voice.speech.api_key_env", "TTS_KEY"),
        ("voice.turn_detection.silence_duration_ms", "700"),
        ("voice.turn_detection.threshold", "0.6"),
        ("voice.fallback", "One moment, please say that again."),
        // The JSON box is not read unless JSON is chosen.
        ("voice", "{\"type\": \"echo\"}"),
    ]);
    let voice = &saved()["voice"];
    assert_eq!(voice["type"], "pipeline", "{voice:#}");
    assert_eq!(voice["transcription"]["language"], "en");
    assert_eq!(voice["speech"]["api_key_env"], "TTS_KEY");
    assert_eq!(voice["turn_detection"]["silence_duration_ms"], 700);
    assert_eq!(voice["turn_detection"]["interrupt_response"], false, "an unticked box is off");
    assert_eq!(voice["turn_detection"]["prefix_padding_ms"], 300, "an empty field is the default");
    assert_eq!(voice["fallback"], "One moment, please say that again.");
    let page = d.get(&path).text;
    for shown in
        ["value=\"https://stt.example.com/v1\"", "value=\"700\"", "<option value=\"pipeline\" selected>"]
    {
        assert!(page.contains(shown), "the page shows {shown}: {page}");
    }

    post(&[
        ("voice.type", "builtin"),
        ("voice.builtin_voice", "en-gb"),
        ("voice.turn_detection.interrupt_response", "on"),
    ]);
    let voice = &saved()["voice"];
    assert_eq!((&voice["type"], &voice["voice"]), (&json!("builtin"), &json!("en-gb")), "{voice:#}");
    assert_eq!(voice["turn_detection"]["interrupt_response"], true);
    assert_eq!(voice["turn_detection"]["type"], "server_vad", "silence decides by default");

    // The end-of-turn model decides, with its settings; a bad one is named.
    post(&[
        ("voice.type", "builtin"),
        ("voice.turn_detection.type", "semantic"),
        ("voice.turn_detection.eagerness", "low"),
        ("voice.turn_detection.max_wait_ms", "4000"),
    ]);
    let td = &saved()["voice"]["turn_detection"];
    assert_eq!(
        (&td["type"], &td["eagerness"], &td["max_wait_ms"]),
        (&json!("semantic"), &json!("low"), &json!(4000)),
        "{td:#}"
    );
    assert_eq!(td["min_silence_ms"], 200, "an empty field is the default");
    let page = d.get(&path).text;
    assert!(page.contains("<option value=\"semantic\" selected>"), "{page}");
    assert!(page.contains("<option value=\"low\" selected>"), "{page}");
    let mut fields: Vec<(&str, &str)> = base.to_vec();
    fields.extend([
        ("voice.type", "builtin"),
        ("voice.turn_detection.type", "semantic"),
        ("voice.turn_detection.min_silence_ms", "900"),
    ]);
    let r = d.post_multipart(&path, &fields, vec![]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        field_error(&r.text, "voice.turn_detection.min_silence_ms")
            .is_some_and(|m| m.contains("silence_duration_ms")),
        "{}",
        r.text
    );

    post(&[("voice.type", "json"), ("voice", "{\"type\": \"realtime\", \"base_url\": \"https://rt.example.com/v1\", \"model\": \"gpt-realtime\"}")]);
    assert_eq!(saved()["voice"]["model"], "gpt-realtime");
    assert!(d.get(&path).text.contains("value=\"gpt-realtime\""), "the JSON's fields show in the form");
    post(&[("voice.type", "echo")]);
    let voice = saved()["voice"].clone();
    assert!(voice.is_null() || voice == json!({"type": "echo"}), "echo, the default: {voice:#}");
}

/// Saved knowledge can be read and edited in place, not only removed.
#[test]
fn saved_knowledge_is_shown_and_edited_in_place() {
    let (f, d) = signed_in();
    f.patch_agent(json!({"knowledge": [
        {"title": "Shipping", "text": "Shipping costs five euros."},
        {"title": "Returns", "text": "Returns are free."}
    ]}));
    let path = format!("/dashboard/agents/{}", f.agent);
    let page = d.get(&path).text;
    assert!(page.contains(">Shipping costs five euros.</textarea>"), "the text is on the page: {page}");
    let r = d.post_multipart(
        &path,
        &[
            ("name", "Support"),
            ("backend.type", "builtin"),
            ("voice", ""),
            ("knowledge.0.title", "Shipping"),
            ("knowledge.0.text", "Shipping costs four euros now."),
            ("knowledge.1.title", "Free returns"),
            ("knowledge.1.text", "Returns are free."),
        ],
        vec![],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let saved = f.api.control("GET", &format!("/v1/agents/{}", f.agent), &f.key, None).expect(200).body;
    assert_eq!(
        saved["knowledge"],
        json!([{"title": "Shipping", "text": "Shipping costs four euros now."}, {"title": "Free returns", "text": "Returns are free."}])
    );
    // A refused save shows the edits again.
    let r = d.post_multipart(
        &path,
        &[
            ("name", ""),
            ("backend.type", "builtin"),
            ("voice", ""),
            ("knowledge.0.title", "Shipping"),
            ("knowledge.0.text", "Typed, not saved."),
        ],
        vec![],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(">Typed, not saved.</textarea>"), "{}", r.text);
}

#[test]
fn no_input_gets_a_5xx() {
    let (f, d) = signed_in();
    let w = f.widget.clone();
    let paths = [
        "/dashboard/sign-in".to_string(),
        "/dashboard/sign-out".into(),
        "/dashboard/agents".into(),
        format!("/dashboard/agents/{}", f.agent),
        format!("/dashboard/agents/{}/test-runs", f.agent),
        "/dashboard/agents/ag_none".into(),
        "/dashboard/agents/%00".into(),
        "/dashboard/widgets".into(),
        format!("/dashboard/widgets/{w}/setup"),
        format!("/dashboard/widgets/{w}/nonsense"),
        format!("/dashboard/widgets/{w}/preview-sessions"),
        "/dashboard/widgets/wgt_none/origins".into(),
    ];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/x-www-form-urlencoded", b"%%%=%zz&&=&csrf".to_vec()),
        ("application/x-www-form-urlencoded", vec![0xff, 0xfe, 0x00, 0x26]),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--".to_vec(),
        ),
        ("multipart/form-data", b"no boundary".to_vec()),
        ("application/json", b"{}".to_vec()),
        ("text/plain", vec![b'a'; 300 * 1024]),
        ("application/x-www-form-urlencoded", vec![b'a'; 300 * 1024]),
    ];
    for path in &paths {
        for (ct, body) in &bodies {
            for with_token in [false, true] {
                let url = if with_token {
                    format!("{}{path}?csrf={}", d.base, d.csrf)
                } else {
                    format!("{}{path}", d.base)
                };
                let res = d
                    .http
                    .post(url)
                    .header("Cookie", &d.cookie)
                    .header("Content-Type", *ct)
                    .body(body.clone())
                    .send()
                    .expect("post");
                assert!(res.status().as_u16() < 500, "{path} {ct}: {}", res.status());
            }
        }
        let res = d.get(path);
        assert!(res.status < 500, "GET {path}: {}", res.status);
    }
    for query in [
        "?from=2026-13-45",
        "?to=0000-00-00&from=9999-99-99",
        "?cursor=zzz",
        "?widget=%FF",
        "?mode=fax&environment=moon",
    ] {
        let r = d.get(&format!("/dashboard/conversations{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
    }
    // Still signed in and nothing changed.
    assert_eq!(d.get("/dashboard/widgets").status, 200);
    assert_eq!(widget_version(&f)["version"], 1);
}

#[test]
fn the_actions_section_lists_the_agents_page_actions_and_saves_which_the_site_runs() {
    let (f, d) = signed_in();
    f.patch_agent(json!({
    "backend": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
    "tools": [
        {"type": "client", "name": "show_product", "description": "Show a product on the page."},
        {"type": "client", "name": "open_checkout", "description": "Open the checkout."},
        {"type": "end_call"},
    ]}));
    let page = d.get(&format!("/dashboard/widgets/{}", f.widget));
    assert!(page.text.contains("show_product</code>: Show a product on the page."), "{}", page.text);
    assert!(page.text.contains("open_checkout"), "{}", page.text);
    assert!(!page.text.contains("value=\"end_call\""), "only client tools are page actions");

    let r = d.post(
        &format!("/dashboard/widgets/{}/actions", f.widget),
        &[("actions", ""), ("page_actions", "show_product")],
    );
    assert!(r.status == 200 || r.status == 303, "{}", r.text);
    assert_eq!(widget_version(&f)["page_actions"], json!(["show_product"]));
    let page = d.get(&format!("/dashboard/widgets/{}", f.widget));
    assert!(page.text.contains("value=\"show_product\" checked"), "{}", page.text);
    assert!(!page.text.contains("value=\"open_checkout\" checked"), "{}", page.text);
}
