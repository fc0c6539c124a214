//! The floor `make bench-app` measures the app against: a hello-world Tauri window, built
//! with the same profile and the same Tauri, with no plugins, commands or core.
fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!(
            "src-tauri/bench/floor/tauri.conf.json"
        ))
        .unwrap_or_else(|e| {
            eprintln!("floor: {e}");
            std::process::exit(1);
        });
}
