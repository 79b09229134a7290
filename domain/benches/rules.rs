//! The cost of the rules themselves, per referral (`cargo bench -p domain`): what the API adds to a
//! request on top of HTTP and JSON.

#![allow(clippy::unwrap_used)]

fn main() {
    // Under `cargo test --all-targets` (no --bench) a few iterations check that it runs.
    let measuring = std::env::args().any(|a| a == "--bench");
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/examples/valid-threatened.json")).unwrap();
    let as_of = domain::AsOf::at("2026-11-23T12:00:00Z".parse().unwrap());
    let _ = domain::Referral::parse(&doc, &as_of);
    let n = if measuring { 20000 } else { 10 };
    let t = std::time::Instant::now();
    for _ in 0..n {
        let r = domain::Referral::parse(&doc, &as_of).unwrap();
        std::hint::black_box(r.referral.to_json());
    }
    println!(
        "parse+to_json: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    // The first UK number compiles +44's patterns: once per process, not per number.
    let t = std::time::Instant::now();
    let _ = domain::PhoneNumber::parse("07911 123456");
    println!(
        "first UK phone number (compiles +44's patterns): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(domain::PhoneNumber::parse("07911 123456").unwrap());
    }
    println!(
        "phone: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(domain::EmailAddress::parse("priya.patel@example.org").unwrap());
    }
    println!(
        "email: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(domain::calendar::uk_date(
            "2026-11-23T12:00:00Z".parse().unwrap(),
        ));
    }
    println!(
        "uk_date: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let s = doc.to_string();
    let t = std::time::Instant::now();
    for _ in 0..n {
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        std::hint::black_box(v.to_string());
    }
    println!(
        "json round trip: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
