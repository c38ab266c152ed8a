//! Every committed corpus file (`fuzz/corpus/<target>/`) through its target on stable: the
//! inputs fuzzing found interesting, and any that once crashed, stay harmless. The fuzz
//! targets' functions (`fuzz/src/lib.rs`, which `cargo fuzz` builds in a workspace of its own)
//! are compiled here as a module, so the replay shares the workspace's one build instead of
//! compiling the engine and its dependencies a second time.

#[path = "../../fuzz/src/lib.rs"]
mod voxgate_fuzz;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        run(&std::fs::read(&path).expect("read"));
        n += 1;
    }
    assert!(n > 0, "{target} has a seed corpus");
}

#[test]
fn offer() {
    replay("offer", voxgate_fuzz::offer);
}

#[test]
fn datagram_route() {
    replay("datagram_route", voxgate_fuzz::datagram_route);
}

#[test]
fn token() {
    replay("token", voxgate_fuzz::token);
}

#[test]
fn origins() {
    replay("origins", voxgate_fuzz::origins);
}

#[test]
fn spec_patch() {
    replay("spec_patch", voxgate_fuzz::spec_patch);
}

#[test]
fn trickle() {
    replay("trickle", voxgate_fuzz::trickle);
}
