//! The saved snapshot: a restarted replica reads it back instead of
//! rebuilding from the store, answers exactly as before, and never uses a
//! file that is damaged or of other data.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

/// The file's inode: a rebuild writes a new file and renames it over.
fn inode(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("snapshot file").ino()
}

on_both_backends!(
    a_restarted_replica_reads_its_saved_snapshot_and_never_a_bad_one,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let file = app
            .settings
            .snapshot_path()
            .expect("a snapshot file by default");
        let saved = inode(&file);
        let token = app.token(Role::Researcher, "snap-researcher");
        let query = json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5});
        let first = ok_json(app.post_json("/v1/counts", &token, &query).await).await;
        assert!(first["charged"].as_f64().expect("charged") > 0.0);
        let identity = app.state.pipeline.snapshots.current().identity().clone();

        // A restart on the same data directory reads the file (it is not
        // rewritten) and holds the same data: the same query is the same
        // release, a free repeat with the same cells.
        let restarted = app.replica().await;
        assert_eq!(inode(&file), saved, "a current file was rebuilt");
        assert_eq!(
            restarted.state.pipeline.snapshots.current().identity(),
            &identity
        );
        let again = ok_json(restarted.post_json("/v1/counts", &token, &query).await).await;
        assert_eq!(again["charged"], 0.0);
        assert_eq!(again["repeat"], true);
        assert_eq!(again["release_id"], first["release_id"]);
        assert_eq!(again["cells"], first["cells"]);

        // A damaged file is not used: the replica rebuilds from the store
        // (a new file) and holds the same data.
        let mut bytes = std::fs::read(&file).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&file, &bytes).expect("damage");
        let damaged = inode(&file);
        let rebuilt = app.replica().await;
        assert_ne!(inode(&file), damaged, "a damaged file was used");
        assert_eq!(
            rebuilt.state.pipeline.snapshots.current().identity(),
            &identity
        );

        // New cases make the file stale: the next start rebuilds it for them.
        app.store
            .add_cases(&ctm_stats::synth::generate_vec(50, 99), false, |_| {})
            .await
            .expect("more cases");
        let before = inode(&file);
        let after_import = app.replica().await;
        assert_ne!(inode(&file), before, "a stale file was used");
        let current = after_import.state.pipeline.snapshots.current();
        assert_eq!(current.data_version(), identity.version + 1);
        assert_ne!(current.identity().digest, identity.digest);
    }
);
