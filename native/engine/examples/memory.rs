//! Resident memory of a JSON data document once parsed into values.
//!
//! cargo run --release --example memory -- DATA.json

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn main() {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: memory DATA.json");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let before = rss_bytes();
    let value = match sark_engine::Value::from_json_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}", e);
            std::process::exit(1);
        }
    };
    let after = rss_bytes();
    println!("{} bytes of JSON → {} bytes resident added: {:.2}x", text.len(), after - before, (after - before) as f64 / text.len() as f64);
    drop(value);
}
