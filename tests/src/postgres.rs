//! A real PostgreSQL for the tests: one server per machine (`scripts/test-postgres`, started on
//! first use unless `VOXGATE_TEST_DATABASE_URL` names one), and a fresh database per test.

use std::sync::OnceLock;

/// The server's connection string (without a database).
fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("VOXGATE_TEST_DATABASE_URL") {
            return url;
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-postgres");
        let out =
            std::process::Command::new(&script).arg("start").output().expect("run scripts/test-postgres");
        assert!(
            out.status.success(),
            "scripts/test-postgres could not start PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

/// A connection string to a new, empty database of its own (key=value form, as libpq takes).
pub fn fresh_database() -> String {
    use rand::Rng;
    let name = format!("vg_{:016x}", rand::rng().random::<u64>());
    let mut admin =
        postgres::Client::connect(server(), postgres::NoTls).expect("connect to the test PostgreSQL");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    with_database(server(), &name)
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
