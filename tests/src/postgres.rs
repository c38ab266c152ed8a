//! A real PostgreSQL for the tests: one server per machine (`scripts/test-postgres`, started on
//! first use unless `VOXGATE_TEST_DATABASE_URL` names one), and a fresh database per test.

use std::sync::OnceLock;

/// A PostgreSQL server of a test's own (for a test that restarts or stops it), in a folder
/// of its own; stopped and removed when dropped.
pub struct OwnServer {
    dir: tempfile::TempDir,
    pub url: String,
}

impl OwnServer {
    pub fn start() -> OwnServer {
        let dir = tempfile::tempdir().expect("temp dir");
        // The server runs as another user when the tests run as root: let it in.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).expect("chmod the server's folder");
        let out = script(dir.path(), "start");
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        OwnServer { dir, url }
    }

    /// Restarts the server, cutting every connection (a database failover or restart).
    pub fn restart(&self) {
        script(self.dir.path(), "restart");
    }

    /// A new, empty database on this server.
    pub fn fresh_database(&self) -> String {
        create_database(&self.url)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script_path())
            .arg("stop")
            .env("VOXGATE_TEST_PG_DIR", self.dir.path())
            .output();
    }
}

fn script_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-postgres")
}

/// `scripts/test-postgres command` on the server in `dir` (the script's default without one).
fn script_in(dir: Option<&std::path::Path>, command: &str) -> std::process::Output {
    let mut run = std::process::Command::new(script_path());
    run.arg(command);
    if let Some(dir) = dir {
        run.env("VOXGATE_TEST_PG_DIR", dir);
    }
    let out = run.output().expect("run scripts/test-postgres");
    assert!(
        out.status.success(),
        "scripts/test-postgres {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn script(dir: &std::path::Path, command: &str) -> std::process::Output {
    script_in(Some(dir), command)
}

/// The server's connection string (without a database).
fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("VOXGATE_TEST_DATABASE_URL") {
            return url;
        }
        let out = script_in(None, "start");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

/// A connection string to a new, empty database of its own (key=value form, as libpq takes).
pub fn fresh_database() -> String {
    create_database(server())
}

fn create_database(server: &str) -> String {
    use rand::Rng;
    let name = format!("vg_{:016x}", rand::rng().random::<u64>());
    let mut admin =
        postgres::Client::connect(server, postgres::NoTls).expect("connect to the test PostgreSQL");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    with_database(server, &name)
}

/// `server` with its dbname replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let kept: Vec<&str> = server.split_whitespace().filter(|kv| !kv.starts_with("dbname=")).collect();
    format!("{} dbname={name}", kept.join(" "))
}

/// A client on `url`, for a test that reads the database behind voxgate's back.
pub fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect to the test database")
}

/// The session-signing secret every node of a test shares.
pub const SHARED_SECRET: &str = "5f1d3c0a9b8e7f6a5d4c3b2a19081726354453627180a9b8c7d6e5f4a3b2c1d0";

/// A node on the database at `url`: `voxgate serve --database-url url --node id`, with a
/// short lease (1 s, so failover shows quickly) and `extra` flags.
pub fn node(url: &str, id: &str, extra: &[&str]) -> crate::Server {
    node_with_lease(url, id, 1, extra)
}

/// [`node`] with a lease of `lease_seconds` (production's default is 10).
pub fn node_with_lease(url: &str, id: &str, lease_seconds: u32, extra: &[&str]) -> crate::Server {
    let lease = lease_seconds.to_string();
    let mut args: Vec<String> = ["--database-url", url, "--node", id, "--node-lease-seconds", &lease]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    crate::Server::start_with(crate::ServerOptions {
        extra_args: args,
        env: vec![("VOXGATE_SESSION_SECRET".into(), SHARED_SECRET.into())],
        ..Default::default()
    })
}

/// `voxgate keys create` on the database at `url`.
pub fn create_key(url: &str, workspace: &str) -> String {
    crate::key_from(crate::voxgate(&["keys", "create", "--workspace", workspace, "--database-url", url]))
}

/// The database a node started by [`node`] uses (its `--database-url`).
pub fn database_of(f: &crate::Fixture) -> String {
    f.server.database_url.clone().expect("a node on PostgreSQL")
}
