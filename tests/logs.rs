//! Logs carry no statistic: loading a snapshot logs nothing from which the
//! number of cases or persons follows; and what a client causes is not
//! logged as a fault (ERROR). Its own test binary, so that no other test's
//! threads share its log subscriber.

use ctm_stats::policy::parse_policy;

const POLICY: &str = include_str!("../policy/default.toml");

/// Log lines written while `f` runs on this thread.
fn logs_of(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().expect("lock").clone();
    String::from_utf8(bytes).unwrap_or_default()
}

// The exact count of persons would follow from the exact memory (21 bytes each).
#[test]
fn snapshot_logs_carry_no_count() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let cases = 3_217;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policy = parse_policy("p.toml", POLICY).expect("policy");
    let store = rt.block_on(async {
        let store = ctm_stats::store::Store::connect(&url)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
            .add_cases(&ctm_stats::synth::generate_vec(cases, 9), false, |_| {})
            .await
            .expect("cases");
        store
    });
    let mut persons = 0;
    let logs = logs_of(|| {
        let snap = rt
            .block_on(ctm_stats::snapshots::load_from_store(&store, &policy))
            .expect("load");
        persons = snap.len();
    });
    assert!(logs.contains("snapshot loaded"), "{logs}");
    for n in [cases, persons, persons * 21] {
        assert!(
            !logs.contains(&n.to_string()),
            "a count ({n}) in the log: {logs}"
        );
    }
    assert!(!logs.contains("memory_bytes"), "{logs}");
}

/// Sends `request` on `stream` and reads the answer: to the end of its head,
/// or, with `to_close`, until the server closes the connection.
fn exchange(stream: &mut std::net::TcpStream, request: &[u8], to_close: bool) -> String {
    use std::io::{Read, Write};
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).expect("read");
        answer.extend_from_slice(&chunk[..n]);
        if n == 0 || (!to_close && answer.windows(4).any(|w| w == b"\r\n\r\n")) {
            return String::from_utf8_lossy(&answer).into_owned();
        }
    }
}

/// The real binary with its default log filter: a request over the client's
/// connection share (503) is a refusal at INFO, and a request head the HTTP
/// parser refuses (400) is not logged as an error either.
#[test]
fn a_connection_cap_refusal_and_a_malformed_request_are_not_errors() {
    use std::io::BufRead;
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctm-stats"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "DATABASE_URL",
            format!("sqlite:{}", dir.path().join("logs.db").display()),
        )
        .env("DATA_DIR", dir.path().join("data"))
        .env("BIND", "127.0.0.1:0")
        .env("MAX_CONNECTIONS_PER_CLIENT", "1")
        .env("LOG_FORMAT", "text")
        .env_remove("RUST_LOG")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ctm-stats serve");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut logs = Vec::new();
    let port = loop {
        let Ok(line) = rx.recv() else {
            panic!("serve ended before listening:\n{}", logs.join("\n"));
        };
        let port = line
            .contains("listening")
            .then(|| line.split("port=").nth(1))
            .flatten()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse::<u16>().ok());
        logs.push(line);
        if let Some(port) = port {
            break port;
        }
    };
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        s
    };
    // The one connection this address may hold, answered and kept open.
    let mut first = connect();
    let answer = exchange(
        &mut first,
        b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n",
        false,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut second = connect();
    let answer = exchange(
        &mut second,
        b"GET /v1/catalog HTTP/1.1\r\nHost: t\r\n\r\n",
        true,
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    for malformed in [
        &b"GET /v1/catalog HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"[..],
        &b"\x16\x03\x01 not http at all\r\n\r\n"[..],
    ] {
        let answer = exchange(&mut connect(), malformed, true);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    drop(first);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    logs.extend(rx.try_iter());
    let logs = logs.join("\n");
    assert!(
        logs.lines().any(|l| l.contains(" INFO ")
            && l.contains("request refused")
            && l.contains("service.too_many_connections")),
        "{logs}"
    );
    assert!(!logs.contains("ERROR"), "{logs}");
}
