//! A signed-in dashboard user as a test drives one: the sign-in cookie, the CSRF token read from
//! a page, and form posts, without following redirects (a test checks where they go).

use crate::{Reply, Server};
use reqwest::blocking::{multipart, Client};
use reqwest::redirect::Policy;
use std::io::Write;
use std::process::{Command, Stdio};

/// Creates a dashboard user of `workspace` with `password` in the server's data dir.
pub fn create_user(server: &Server, workspace: &str, email: &str, password: &str) {
    let mut child = Command::new(crate::voxgate_bin())
        .args(["users", "create", "--data-dir"])
        .arg(&server.data_dir)
        .args(["--workspace", workspace, "--email", email, "--password-stdin"])
        .env("VOXGATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("voxgate users create");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password");
    assert!(child.wait().expect("wait").success(), "voxgate users create failed");
}

/// A browser-like client signed in to the dashboard.
pub struct Dashboard {
    pub base: String,
    pub http: Client,
    pub cookie: String,
    pub csrf: String,
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().expect("client")
}

/// Posts the sign-in form; the reply (303 with a cookie, 401, 429).
pub fn sign_in_reply(base: &str, email: &str, password: &str) -> Reply {
    let res = client()
        .post(format!("{base}/dashboard/sign-in"))
        .form(&[("email", email), ("password", password)])
        .send()
        .expect("sign-in");
    Reply::from(res)
}

impl Dashboard {
    /// Signs in; panics if refused.
    pub fn sign_in(server: &Server, email: &str, password: &str) -> Dashboard {
        let reply = sign_in_reply(&server.url, email, password);
        assert_eq!(reply.status, 303, "sign-in refused: {}", reply.text);
        let set = reply.header("set-cookie").expect("a sign-in cookie");
        let cookie = set.split(';').next().expect("cookie").to_string();
        let mut d = Dashboard { base: server.url.clone(), http: client(), cookie, csrf: String::new() };
        let page = d.get("/dashboard/agents");
        d.csrf = csrf_of(&page.text).expect("a CSRF token on the page");
        d
    }

    pub fn get(&self, path: &str) -> Reply {
        Reply::from(
            self.http.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).send().expect("get"),
        )
    }

    /// Posts a URL-encoded form with this sign-in's CSRF token (as a browser on the dashboard).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// Posts exactly `fields` (no token added).
    pub fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Origin", &self.base)
            .form(fields)
            .send()
            .expect("post");
        Reply::from(res)
    }

    /// Posts a multipart form (the agent form) with the CSRF token and `files` as
    /// (field, file name, bytes).
    pub fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: Vec<(&str, &str, Vec<u8>)>,
    ) -> Reply {
        let mut form = multipart::Form::new().text("csrf", self.csrf.clone());
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for (field, name, bytes) in files {
            form = form.part(field.to_string(), multipart::Part::bytes(bytes).file_name(name.to_string()));
        }
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Origin", &self.base)
            .multipart(form)
            .send()
            .expect("post");
        Reply::from(res)
    }
}

/// The CSRF token a dashboard page's forms carry.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The message a page shows for `field`, if any.
pub fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("data-error-for=\"{field}\">");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].split("</p>").next()?.to_string())
}
