//! Private files: after a sign-in and a token, the data folder and every folder in it are
//! their owner's only (0700) and every file in them is readable by its owner only (0600).

use crate::harness::{assert_exit, Idp, Machine};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn modes(dir: &Path, out: &mut Vec<(String, u32, bool)>) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    out.push((dir.display().to_string(), mode, true));
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            modes(&path, out);
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            out.push((path.display().to_string(), mode, false));
        }
    }
}

#[test]
fn the_data_folder_and_every_file_in_it_are_the_owners_only() {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    assert_exit(&m.latchkey("-", &["token"]), 0, "a token");
    assert_exit(&m.latchkey("-", &["status"]), 0, "status");
    let mut found = Vec::new();
    modes(&m.data_dir(), &mut found);
    let wrong: Vec<_> = found
        .iter()
        .filter(|(_, mode, dir)| *mode != if *dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{p}: {mode:o}"))
        .collect();
    assert!(
        found.iter().any(|(p, _, _)| p.ends_with("accounts.json")),
        "the walk saw the account file: {found:?}"
    );
    assert!(wrong.is_empty(), "not private: {wrong:?}");
}
