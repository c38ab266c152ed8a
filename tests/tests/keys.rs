//! Workspace API keys from the command line: `keys create` never makes a store by surprise,
//! `keys list` shows what exists (never a key), and `keys revoke` is refused by a running server
//! at the very next request.

use serde_json::json;
use voxgate_tests::{create_key, voxgate, Fixture};

#[test]
fn keys_create_in_a_folder_without_a_store_fails_and_names_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let out = voxgate(&["keys", "create", "--workspace", "acme", "--data-dir", &data_dir.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no key is printed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&*data_dir.to_string_lossy()) && stderr.contains("--init"), "{stderr}");
    assert!(!data_dir.join("voxgate.sqlite").exists(), "nothing was created");

    let out = voxgate(&[
        "keys",
        "create",
        "--init",
        "--workspace",
        "acme",
        "--data-dir",
        &data_dir.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let absolute = std::fs::canonicalize(&data_dir).unwrap();
    assert!(stderr.contains("\"acme\"") && stderr.contains(&*absolute.to_string_lossy()), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "the key alone on stdout");
}

fn list(f: &Fixture) -> String {
    let out = voxgate(&["keys", "list", "--data-dir", &f.server.data_dir.to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn key_line<'a>(listing: &'a str, id: &str) -> &'a str {
    listing.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} is listed: {listing}"))
}

#[test]
fn keys_are_listed_and_a_revoked_key_is_refused_at_the_next_request() {
    let f = Fixture::new();
    let second = create_key(&f.server.data_dir, "acme");
    f.api.control("GET", "/v1/agents", &second, None).expect(200);

    let listing = list(&f);
    assert!(!listing.contains("vg_sk_"), "never a key: {listing}");
    let ids: Vec<&str> = listing.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listing}");
    assert!(ids.iter().all(|id| id.starts_with("key_")), "{listing}");
    // Both were used (the fixture's key made its agent and widget): a last-used time, not revoked.
    for id in &ids {
        let line = key_line(&listing, id);
        assert!(line.contains("acme"), "{line}");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_ne!(fields[3], "-", "last used: {line}");
        assert_eq!(fields[4], "-", "not revoked: {line}");
    }

    // The second key is the one used last; revoke it while the server runs.
    let second_id = ids[1];
    let data_dir = f.server.data_dir.to_string_lossy().to_string();
    let out = voxgate(&["keys", "revoke", "--data-dir", &data_dir, second_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let refused = f.api.control("GET", "/v1/agents", &second, None).expect_error(401, "api_key_invalid");
    assert!(refused.text.contains("revoked"), "{}", refused.text);
    // The other key is untouched; the listing says when the revoked one was revoked.
    f.api.control("POST", "/v1/agents", &f.key, Some(json!({"name": "Still me"}))).expect(201);
    assert_ne!(key_line(&list(&f), second_id).split_whitespace().nth(4), Some("-"));

    // Revoking again, a made-up id, or a malformed one: an error that says which.
    let again = voxgate(&["keys", "revoke", "--data-dir", &data_dir, second_id]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already revoked"));
    let unknown = voxgate(&["keys", "revoke", "--data-dir", &data_dir, "key_NoSuchKeyEver000000000"]);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no key"));
    let malformed = voxgate(&["keys", "revoke", "--data-dir", &data_dir, "vg_sk_not_an_id"]);
    assert!(
        !malformed.status.success() && String::from_utf8_lossy(&malformed.stderr).contains("not a key id")
    );
    // An unknown key says so plainly.
    let stranger = f.api.control("GET", "/v1/agents", &format!("vg_sk_{}", "A".repeat(43)), None);
    assert!(stranger.expect_error(401, "api_key_invalid").text.contains("unknown"));
}
