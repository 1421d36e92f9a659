//! `weft demo`, the README's first command, runs to the end and reports what it did.

use crate::support::weft_raw;

#[test]
fn the_demo_runs_and_reports_every_act() {
    let out = weft_raw(&["--json", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["direct"]["acknowledged"], 60, "{report}");
    assert_eq!(report["topic"]["received"], 40, "{report}");
    let from = report["media"]["file"]["carol_from"].as_object().unwrap();
    assert_eq!(from.len(), 2, "carol fetched from two members: {report}");
    assert_eq!(report["media"]["pipe"]["mib"], 64);
}
