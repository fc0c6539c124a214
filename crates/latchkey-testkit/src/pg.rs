//! A throwaway PostgreSQL cluster for tests, made with Debian's `initdb`/`pg_ctl`
//! (postgresql-15) on a free loopback port. PostgreSQL refuses to run as root: as root the
//! cluster directory is chowned to `postgres` and the tools run through `runuser -u postgres`.
//!
//! One cluster per test binary ([`cluster`]), one fresh database per test ([`fresh_db`], or
//! [`fresh_db_sync`] for tests without a runtime); [`psql`] reads from one synchronously.
//! The cluster is removed when the test process ends, however it ends: a small watcher process
//! waits for this process to exit, then stops the server and deletes the directory. A
//! [`Cluster`] that is dropped (one made with [`Cluster::start`]) is removed at once.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

const BIN: &str = "/usr/lib/postgresql/15/bin";
const SUPERUSER: &str = "latchkey";

pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    as_root: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Creates and starts a cluster. `fsync=off`: tests only, never benchmarks.
    pub fn start() -> Cluster {
        Cluster::start_with(false)
    }

    /// Creates and starts a cluster that makes every commit durable (`fsync`, synchronous
    /// commit, full page writes: PostgreSQL's defaults), for benchmarks.
    pub fn start_durable() -> Cluster {
        Cluster::start_with(true)
    }

    fn start_with(durable: bool) -> Cluster {
        assert!(
            Path::new(BIN).join("initdb").exists(),
            "PostgreSQL 15 is not installed ({BIN}/initdb is missing): run .ci/install-deps.sh"
        );
        let as_root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("latchkey-pg-")
            .tempdir()
            .expect("a temp dir for the cluster")
            .keep();
        let cluster = Cluster {
            dir,
            port: free_port(),
            as_root,
        };
        if as_root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.dir)
                .status()
                .expect("chown runs");
            assert!(ok.success(), "chown of the cluster dir to postgres failed");
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let fast = if durable {
            ""
        } else {
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} {fast} -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-o",
                &opts,
                "-l",
                &cluster.dir.join("log").display().to_string(),
                "-w",
                "start",
            ],
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let path = format!("{BIN}/{tool}");
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} cannot run: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\nlog: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// `postgresql://latchkey@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the server and deletes the directory once this process has exited, whatever
    /// the reason (for a cluster kept in a static, which is never dropped).
    // Never waited for on purpose: the watcher must outlive this process.
    #[allow(clippy::zombie_processes)]
    fn remove_when_process_exits(&self) {
        let stop = self.stop_script();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}",
            pid = std::process::id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the cluster watcher starts");
    }

    fn stop_script(&self) -> String {
        let runner = if self.as_root {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{runner}{BIN}/pg_ctl -D '{data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'",
            data = self.data().display(),
            dir = self.dir.display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_script()])
            .stdin(Stdio::null())
            .status();
    }
}

/// The path of one of PostgreSQL's programs (`pgbench`, ...).
pub fn program(tool: &str) -> PathBuf {
    Path::new(BIN).join(tool)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The test binary's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let c = Cluster::start();
        c.remove_when_process_exits();
        c
    })
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A new, empty database in the shared cluster; returns its URL.
pub async fn fresh_db() -> String {
    let cluster = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let (client, conn) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
        .await
        .expect("the test cluster accepts connections");
    let conn = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    drop(client);
    let _ = conn.await;
    cluster.url(&name)
}

/// A new, empty database in the shared cluster, made with `createdb` (no async runtime
/// needed); returns its URL.
pub fn fresh_db_sync() -> String {
    let cluster = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new(program("createdb"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
            "-U",
            SUPERUSER,
        ])
        .arg(&name)
        .stdin(Stdio::null())
        .output()
        .expect("createdb runs");
    assert!(
        out.status.success(),
        "createdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.url(&name)
}

/// Runs one SQL statement with `psql` against `url` and returns its rows, one a line, columns
/// separated by `|` (unaligned, no headers).
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new(program("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A direct connection (no pool), for tests that poke the database itself.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client
}

/// The one bigint a query returns (a `count(*)`, a sum...).
pub async fn scalar(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> i64 {
    client
        .query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}
