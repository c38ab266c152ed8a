//! A real S3-compatible server for tests: moto's (PyPI `moto[server]`, installed by
//! scripts/test in target/test-venv), started on a free loopback port with one bucket, and
//! stopped when dropped.

use crate::KillOnDrop;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

const SERVE: &str = r#"
import logging, sys, boto3
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
s3.create_bucket(Bucket=sys.argv[1])
print(port, flush=True)
# Objects are private: the test reads them through this client, one "get KEY" per line.
for line in sys.stdin:
    try:
        body = s3.get_object(Bucket=sys.argv[1], Key=line.split(" ", 1)[1].strip())["Body"].read()
        print(body.hex(), flush=True)
    except s3.exceptions.NoSuchKey:
        print("-", flush=True)
"#;

/// A running S3-compatible server with one bucket.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    client: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: KillOnDrop,
}

impl S3Server {
    pub fn start(bucket: &str) -> S3Server {
        let python = std::env::var_os("VOXGATE_TEST_PYTHON")
            .expect("VOXGATE_TEST_PYTHON names a Python with moto[server] (scripts/test sets it up in target/test-venv)");
        let mut child = Command::new(python)
            .args(["-c", SERVE, bucket])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start moto");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("moto says its port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("moto did not start: {line:?}"));
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.into(),
            client: Mutex::new((stdin, stdout)),
            _child: KillOnDrop(child),
        }
    }

    /// The variables a client of this server needs (`object_store` reads them).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    /// The keys in the bucket (up to a thousand).
    pub fn keys(&self) -> Vec<String> {
        let url = format!("{}/{}?list-type=2", self.endpoint, self.bucket);
        let xml = reqwest::blocking::get(url).expect("moto answers").text().expect("listing");
        xml.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).map(str::to_string).collect()
    }

    /// The object at `key`, read with boto3 (objects are private); `None` when there is none.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut client = self.client.lock().expect("client");
        writeln!(client.0, "get {key}").expect("ask moto");
        let mut line = String::new();
        client.1.read_line(&mut line).expect("moto answers");
        let hex = line.trim();
        (hex != "-").then(|| {
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
        })
    }
}
