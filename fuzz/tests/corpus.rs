//! Every committed corpus file (`fuzz/corpus/<target>/`) through its target on stable: the
//! inputs fuzzing found interesting, and any that once crashed, stay harmless.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
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
