//! Logs carry no statistic: loading a snapshot logs nothing from which the
//! number of cases or persons follows. Its own test binary, so that no other
//! test's threads share its log subscriber.

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
