//! Facts about the machine the harness runs on.

use serde::{Deserialize, Serialize};

pub fn host() -> Host {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    Host {
        hostname: read("/proc/sys/kernel/hostname"),
        os: format!(
            "{} {}",
            std::env::consts::OS,
            read("/proc/sys/kernel/osrelease")
        )
        .trim()
        .to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: memory_bytes(),
    }
}

/// MemTotal from /proc/meminfo (0 when unknown).
pub fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub fn tool() -> Tool {
    Tool {
        name: "tunebench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("TUNEBENCH_GIT_COMMIT")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    }
}

/// How loaded the host was over an interval: what other work competed with the harness and
/// the servers. A comparison between runs whose host conditions differ is not a verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostLoad {
    /// 1-minute load average at the end of the interval.
    pub load_1m: f64,
    /// Share of all cores' time spent busy (neither idle nor waiting for I/O), 0 to 1.
    pub busy: f64,
    /// Share of all cores' time stolen by the hypervisor, 0 to 1.
    pub steal: f64,
}

/// The host's CPU time counters at one moment (/proc/stat), to diff against later.
#[derive(Debug, Clone, Copy)]
pub struct HostSample {
    /// user, nice, system, idle, iowait, irq, softirq, steal (clock ticks, all cores).
    ticks: [u64; 8],
}

impl HostSample {
    pub fn take() -> Self {
        let mut ticks = [0u64; 8];
        if let Ok(stat) = std::fs::read_to_string("/proc/stat")
            && let Some(line) = stat.lines().find(|l| l.starts_with("cpu "))
        {
            for (slot, v) in ticks.iter_mut().zip(line.split_whitespace().skip(1)) {
                *slot = v.parse().unwrap_or(0);
            }
        }
        HostSample { ticks }
    }

    /// The host's load from this sample until now.
    pub fn until_now(&self) -> HostLoad {
        self.until(&HostSample::take(), load_average())
    }

    fn until(&self, later: &HostSample, load_1m: f64) -> HostLoad {
        let d: Vec<u64> = later
            .ticks
            .iter()
            .zip(&self.ticks)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let total: u64 = d.iter().sum();
        if total == 0 {
            return HostLoad {
                load_1m,
                ..HostLoad::default()
            };
        }
        let idle = d[3] + d[4];
        HostLoad {
            load_1m,
            busy: total.saturating_sub(idle + d[7]) as f64 / total as f64,
            steal: d[7] as f64 / total as f64,
        }
    }
}

/// The 1-minute load average (/proc/loadavg), 0 when unknown.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_load_is_the_share_of_ticks_between_two_samples() {
        let a = HostSample {
            ticks: [100, 0, 50, 800, 50, 0, 0, 0],
        };
        // +300 user, +100 system, +500 idle, +0 iowait, +100 steal: 1,000 ticks.
        let b = HostSample {
            ticks: [400, 0, 150, 1300, 50, 0, 0, 100],
        };
        let l = a.until(&b, 1.5);
        assert!((l.busy - 0.4).abs() < 1e-12, "{l:?}");
        assert!((l.steal - 0.1).abs() < 1e-12, "{l:?}");
        assert_eq!(l.load_1m, 1.5);
        assert_eq!(a.until(&a, 0.0), HostLoad::default());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub git_commit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cores: usize,
    pub memory_bytes: u64,
}
