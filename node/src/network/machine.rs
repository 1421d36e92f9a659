//! How loaded this machine is, for the load a provider reports: the one-minute load average
//! per core and the memory in use, each per mille, read from `/proc` (Linux). `None` where
//! there is no `/proc` to read.

/// The CPU load per core and the memory in use, per mille.
pub fn load() -> Option<(u16, u16)> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let one_minute: f64 = loadavg.split_whitespace().next()?.parse().ok()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let (total, available) = (field("MemTotal:")?, field("MemAvailable:")?);
    let cpu = (one_minute / cores * 1000.0).clamp(0.0, 65_535.0) as u16;
    let mem = ((1.0 - available / total.max(1.0)) * 1000.0).clamp(0.0, 1000.0) as u16;
    Some((cpu, mem))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_machine() {
        let (_, mem) = super::load().expect("Linux has /proc");
        assert!(mem <= 1000);
    }
}
