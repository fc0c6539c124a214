//! Real network partitions on one machine: each device gets a network namespace of its own,
//! joined to the root namespace by a veth pair with addresses from 198.18.0.0/15 (RFC 2544's
//! range for testing network equipment, so no real network is shadowed). Inside, a socat
//! listens on 127.0.0.1:PORT for each upstream (the credit service, the OpenID Provider) and
//! forwards over the veth to a [`Relay`] in this process, which forwards to the upstream's own
//! 127.0.0.1:PORT. The device process therefore talks to the same loopback URLs as it would
//! without a namespace (the desktop allows plain http only to loopback), and everything it
//! sends crosses the veth: [`Namespace::cut`] sets both ends down (new connections fail at
//! once, open ones stall), [`Namespace::restore`] sets them up again.
//!
//! A [`Relay`] can also hold one request, or the service's answer to it, at a [`Gate`]: how
//! the tests stop a sync at each of its steps to kill it.
//!
//! Everything is removed when dropped (panics included), and by a watcher process when this
//! test process dies without unwinding.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs a command that must succeed (`ip ...`), with its stderr in the panic.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails (never skips) unless this process may make network namespaces.
pub fn require_root() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let how = "The network-partition tests put each device in a network namespace of its own, \
               which needs root (CI runs as root). Run them with `make test-partitions` (it builds as \
               you and runs them through sudo), or run `make test` as root.";
    let uid = uid.unwrap_or_else(|e| format!("unknown ({e})"));
    assert!(uid == "0", "not root (uid {uid}). {how}");
    let ip = Command::new("ip").args(["netns", "list"]).output();
    assert!(
        ip.as_ref().is_ok_and(|o| o.status.success()),
        "`ip netns` does not work here ({:?}). Install iproute2 (.ci/install-deps.sh). {how}",
        ip.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
    assert!(
        Command::new("socat")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "socat is missing: run .ci/install-deps.sh"
    );
}

/// A device's network namespace, its veth pair, and the socat forwarders inside it.
pub struct Namespace {
    pub name: String,
    host_if: String,
    ns_if: String,
    /// The root namespace's end of the veth (where the relays listen).
    pub host_ip: Ipv4Addr,
    forwarders: Vec<Child>,
    relays: Vec<Relay>,
    watcher: Option<Child>,
}

impl Namespace {
    /// A new namespace (loopback up) linked to the root namespace.
    pub fn new() -> Namespace {
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name = format!("lk{pid}n{k}");
        let host_if = format!("lk{pid}h{k}");
        let ns_if = format!("lk{pid}d{k}");
        // Addresses are chosen and taken under a lock, so parallel test processes never pick
        // the same /30.
        let lock = std::fs::File::create(std::env::temp_dir().join("latchkey-partition.lock"))
            .expect("the address lock file");
        lock.lock().expect("the address lock");
        let used = sh("ip", &["-o", "-4", "addr", "show"]);
        let mut block = (pid.wrapping_mul(16).wrapping_add(k)) % (1 << 15);
        let (host_ip, ns_ip) = loop {
            let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + block * 4;
            let (h, n) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
            if !used.contains(&format!(" {h}/")) && !used.contains(&format!(" {n}/")) {
                break (h, n);
            }
            block = (block + 1) % (1 << 15);
        };
        sh("ip", &["netns", "add", &name]);
        let mut ns = Namespace {
            name,
            host_if,
            ns_if,
            host_ip,
            forwarders: Vec::new(),
            relays: Vec::new(),
            watcher: None,
        };
        ns.watcher = Some(ns.watch_this_process());
        sh(
            "ip",
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns.ns_if,
            ],
        );
        sh("ip", &["link", "set", &ns.ns_if, "netns", &ns.name]);
        sh(
            "ip",
            &["addr", "add", &format!("{host_ip}/30"), "dev", &ns.host_if],
        );
        ns.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns.ns_if,
        ]);
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        drop(lock);
        ns.restore();
        ns
    }

    /// Removes the namespace and its links if this process dies without dropping it.
    // Never waited for on purpose until Drop: it must outlive a killed test process.
    #[allow(clippy::zombie_processes)]
    fn watch_this_process(&self) -> Child {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
            pid = std::process::id(),
            cleanup = self.cleanup_script()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the namespace watcher starts")
    }

    fn cleanup_script(&self) -> String {
        // Processes still inside (socat's forks) would keep the namespace alive: kill them.
        format!(
            "for p in $(ip netns pids {ns} 2>/dev/null); do kill -9 $p; done; \
             ip link del {host} 2>/dev/null; ip netns del {ns} 2>/dev/null; true",
            ns = self.name,
            host = self.host_if
        )
    }

    /// `ip netns exec NAME ARGS...`, a command to run inside.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    fn exec_ok(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh("ip", &full);
    }

    /// Pulls the cable: both ends of the veth down. New connections from inside fail at once
    /// (no route), open ones stall.
    pub fn cut(&self) {
        sh("ip", &["link", "set", &self.host_if, "down"]);
        self.exec_ok(&["ip", "link", "set", &self.ns_if, "down"]);
    }

    /// Plugs it back in, and waits until both ends carry traffic (the kernel reports a veth's
    /// carrier a moment after it is set up; connections before that time out).
    pub fn restore(&self) {
        sh("ip", &["link", "set", &self.host_if, "up"]);
        self.exec_ok(&["ip", "link", "set", &self.ns_if, "up"]);
        let t0 = Instant::now();
        loop {
            let host = sh("ip", &["-o", "link", "show", "dev", &self.host_if]);
            let ns = sh(
                "ip",
                &["-n", &self.name, "-o", "link", "show", "dev", &self.ns_if],
            );
            if host.contains("state UP") && ns.contains("state UP") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the veth of {} comes up: {host} {ns}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes 127.0.0.1:`port` inside reach 127.0.0.1:`port` outside, over the veth; returns
    /// the relay's gate (see [`Gate`]).
    pub fn forward(&mut self, port: u16) -> Arc<Gate> {
        let relay = Relay::start(
            SocketAddr::from((self.host_ip, port)),
            SocketAddr::from(([127, 0, 0, 1], port)),
        );
        let gate = relay.gate.clone();
        self.relays.push(relay);
        use std::os::unix::process::CommandExt;
        let child = self
            .command("socat")
            .args([
                &format!("TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
                &format!("TCP4:{}:{port},connect-timeout=2", self.host_ip),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("socat starts");
        let pid = child.id();
        self.forwarders.push(child);
        // Listening once it is socat, in the namespace (not yet `ip` in ours, where the
        // upstream itself listens on that port), and its /proc/PID/net/tcp shows
        // 127.0.0.1:PORT in LISTEN.
        let want = format!("0100007F:{port:04X} 00000000:0000 0A");
        let ours = std::fs::read_link("/proc/self/ns/net").expect("our network namespace");
        let t0 = Instant::now();
        loop {
            let proc = |f: &str| format!("/proc/{pid}/{f}");
            let inside = std::fs::read_to_string(proc("comm")).is_ok_and(|c| c.trim() == "socat")
                && std::fs::read_link(proc("ns/net")).is_ok_and(|ns| ns != ours);
            let table = std::fs::read_to_string(proc("net/tcp")).unwrap_or_default();
            if inside && table.contains(&want) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "socat in {} listens on 127.0.0.1:{port}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        gate
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for c in &mut self.forwarders {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .stderr(Stdio::null())
                .status();
            let _ = c.wait();
        }
        let _ = Command::new("sh")
            .args(["-c", &self.cleanup_script()])
            .stdin(Stdio::null())
            .status();
        self.relays.clear();
        if let Some(mut w) = self.watcher.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// Where a [`Gate`] stops a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The request never reaches the service.
    Request,
    /// The service gets the request and answers; the answer never reaches the device.
    Reply,
}

/// Stops the first request whose bytes contain a pattern (e.g. `POST /v1/devices/ID/entries `)
/// at the chosen [`Hold`]; everything on that connection after it is dropped. HTTP/1.1 clients
/// do not pipeline, so the answer bytes that follow a matched request are its answer.
#[derive(Default)]
pub struct Gate {
    armed: Mutex<Option<(Vec<u8>, Hold)>>,
    fired: Mutex<bool>,
    cond: Condvar,
    /// The device side of connections held so far (for [`Gate::reset`]).
    held: Mutex<Vec<TcpStream>>,
}

impl Gate {
    /// Arms the gate (one trigger).
    pub fn arm(&self, pattern: &str, hold: Hold) {
        *self.fired.lock().unwrap() = false;
        *self.armed.lock().unwrap() = Some((pattern.as_bytes().to_vec(), hold));
    }

    /// Disarms it without waiting.
    pub fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }

    /// Waits until the armed request was held (`Hold::Request`) or its answer arrived from the
    /// service (`Hold::Reply`); `false` after `limit`.
    pub fn wait(&self, limit: Duration) -> bool {
        let fired = self.fired.lock().unwrap();
        let (fired, _) = self.cond.wait_timeout_while(fired, limit, |f| !*f).unwrap();
        *fired
    }

    /// Whether `window` (what this connection sent lately) matches; disarms on a match.
    fn matches(&self, window: &[u8]) -> Option<Hold> {
        let mut armed = self.armed.lock().unwrap();
        let hit = armed
            .as_ref()
            .filter(|(p, _)| window.windows(p.len()).any(|w| w == p.as_slice()))
            .map(|(_, h)| *h);
        if hit.is_some() {
            *armed = None;
        }
        hit
    }

    /// Closes the held connections: the device sees its request fail (connection closed)
    /// instead of waiting for its timeout.
    pub fn reset(&self) {
        for c in self.held.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn fire(&self, client: &TcpStream) {
        if let Ok(c) = client.try_clone() {
            self.held.lock().unwrap().push(c);
        }
        *self.fired.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

/// A TCP forwarder in this process: accepts on `listen` (the veth's root end), connects to
/// `upstream`, copies both ways, and applies its [`Gate`].
pub struct Relay {
    pub gate: Arc<Gate>,
    stop: Arc<AtomicBool>,
    listen: SocketAddr,
}

impl Relay {
    fn start(listen: SocketAddr, upstream: SocketAddr) -> Relay {
        let listener =
            TcpListener::bind(listen).unwrap_or_else(|e| panic!("the relay binds {listen}: {e}"));
        let gate = Arc::new(Gate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (gate.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    continue;
                };
                pipe(client, server, g.clone());
            }
        });
        Relay { gate, stop, listen }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.listen, Duration::from_millis(200));
    }
}

/// Copies client -> server and server -> client on two threads, with the gate.
fn pipe(client: TcpStream, server: TcpStream, gate: Arc<Gate>) {
    let reply_held = Arc::new(AtomicBool::new(false));
    let dropping = Arc::new(AtomicBool::new(false));
    let (c_read, s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let c_held = client.try_clone().unwrap();
    let (g, rh, dr) = (gate.clone(), reply_held.clone(), dropping.clone());
    std::thread::spawn(move || {
        let (mut from, mut to) = (c_read, s_write);
        let mut buf = vec![0u8; 64 * 1024];
        let mut window: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if dr.load(Ordering::SeqCst) {
                continue;
            }
            // The tail of what came before, so a pattern split across reads still matches.
            window.extend_from_slice(&buf[..n]);
            match g.matches(&window) {
                Some(Hold::Request) => {
                    dr.store(true, Ordering::SeqCst);
                    g.fire(&c_held);
                    continue;
                }
                Some(Hold::Reply) => rh.store(true, Ordering::SeqCst),
                None => {}
            }
            let keep = window.len().saturating_sub(256);
            window.drain(..keep);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let (mut from, mut to) = (server, client);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if reply_held.load(Ordering::SeqCst) && !dropping.swap(true, Ordering::SeqCst) {
                // The service has answered (so it has committed); the device never hears it.
                gate.fire(&to);
            }
            if dropping.load(Ordering::SeqCst) {
                continue;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
