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
    /// 1-minute load average at the end of the interval (it counts the run's own threads).
    pub load_1m: f64,
    /// Share of all cores' time spent busy (neither idle nor waiting for I/O), 0 to 1. It
    /// includes the harness and a server on this host: a change that costs the server CPU
    /// moves it.
    pub busy: f64,
    /// Share of all cores' time stolen by the hypervisor, 0 to 1.
    pub steal: f64,
    /// Share of all cores' time busy with work that is neither this process nor the measured
    /// server (its process and every descendant), 0 to 1: what competed with the run. `None`
    /// when the server listens on this host but its process could not be found (another
    /// user's, or behind a container proxy), and in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_busy: Option<f64>,
}

/// Where the measured server spends its CPU time, as far as this host can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSite {
    /// Inside this process (an embedded engine): its CPU time is the process's own.
    InProcess,
    /// On another host: none of its CPU time is spent here.
    Remote,
    /// Listening on these TCP ports of a loopback address: each listening process and its
    /// descendants (PostgreSQL's backends) are the server. Several for an application and
    /// the stores behind it (`behind`).
    Loopback(Vec<u16>),
    /// On this host, but where could not be told (no port in the URL).
    Unknown,
}

impl ServerSite {
    /// From a target's URL: a loopback host (`127.0.0.0/8`, `::1`, `localhost`) is this host,
    /// any other host is remote.
    pub fn of_url(url: &str, in_process: bool) -> Self {
        if in_process {
            return ServerSite::InProcess;
        }
        let Some((host, port)) = host_port(url) else {
            return ServerSite::Unknown;
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match (loopback, port) {
            (false, _) => ServerSite::Remote,
            (true, Some(p)) => ServerSite::Loopback(vec![p]),
            (true, None) => ServerSite::Unknown,
        }
    }
}

impl ServerSite {
    /// An application's site with the servers behind it (the scenario's other targets): on
    /// this host, their CPU time is the measured system's too, not other work. Remote or
    /// in-process ones add nothing (none of their time is another process's here).
    pub fn behind(self, others: impl IntoIterator<Item = ServerSite>) -> Self {
        let mut ports = match &self {
            ServerSite::Loopback(p) => p.clone(),
            ServerSite::Remote => Vec::new(),
            ServerSite::InProcess | ServerSite::Unknown => return self,
        };
        for other in others {
            if let ServerSite::Loopback(p) = other {
                ports.extend(p);
            }
        }
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            self
        } else {
            ServerSite::Loopback(ports)
        }
    }
}

/// A URL's host and port (the scheme's default when it has none: PostgreSQL 5432, Bolt 7687,
/// HTTP 80, HTTPS 443); None when it is not a URL with a host.
fn host_port(url: &str) -> Option<(String, Option<u16>)> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let default_port = match u.scheme() {
        "postgres" | "postgresql" => Some(5432),
        "bolt" | "neo4j" | "bolt+s" | "neo4j+s" | "bolt+ssc" | "neo4j+ssc" => Some(7687),
        _ => u.port_or_known_default(),
    };
    Some((host.to_string(), u.port().or(default_port)))
}

/// Whether a server answers a TCP connect within `within`: a quick look before work that
/// would otherwise wait out a driver's retries on a server that is gone. True when the URL
/// names no host and port to try (an embedded engine).
pub async fn reachable(url: &str, within: std::time::Duration) -> bool {
    let Some((host, Some(port))) = host_port(url) else {
        return true;
    };
    matches!(
        tokio::time::timeout(
            within,
            tokio::net::TcpStream::connect((host.as_str(), port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// The host's CPU time counters at one moment (/proc/stat), to diff against later, with this
/// process's and the measured server's CPU time (clock ticks, the same unit).
///
/// The host's busy time is the wall-clock time of all its cores less their idle, iowait and
/// stolen time, not the sum of /proc/stat's user, system and irq columns. Those columns are
/// sampled at the scheduler tick, and a tickless kernel (`NO_HZ_IDLE`, the common case)
/// stops the tick on an idle core, so work in bursts shorter than a tick, as a load
/// generator's and a database's are at moderate rates, is sampled by chance: mostly missed,
/// or charged a whole tick when one lands in it. Idle and iowait time are measured exactly on
/// such a kernel. On this project's 2-core VM at 2,000 point selects/s, the columns read 0.8 %
/// busy in one run while tunebench alone used 8 % of the cores (its own CPU clock), and 34 %
/// in another where wall less idle read 19 % and every process's CPU time summed 18 %.
#[derive(Debug, Clone)]
pub struct HostSample {
    /// When the sample was taken (monotonic, from a fixed origin).
    at: std::time::Duration,
    /// The cores /proc/stat counts (its `cpuN` lines).
    cpus: u64,
    /// user, nice, system, idle, iowait, irq, softirq, steal (clock ticks, all cores).
    ticks: [u64; 8],
    /// This process's user + system ticks.
    own: u64,
    /// The server's processes (none when it is in-process or remote) and their ticks, with
    /// their reaped children's; `None` when one listens here but could not be found.
    server: Option<Vec<(i32, u64)>>,
}

impl HostSample {
    pub fn take(site: &ServerSite) -> Self {
        let mut ticks = [0u64; 8];
        let mut cpus = 0;
        if let Ok(stat) = std::fs::read_to_string("/proc/stat") {
            if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
                for (slot, v) in ticks.iter_mut().zip(line.split_whitespace().skip(1)) {
                    *slot = v.parse().unwrap_or(0);
                }
            }
            cpus = stat
                .lines()
                .filter(|l| {
                    l.strip_prefix("cpu")
                        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
                })
                .count() as u64;
        }
        let server = match site {
            ServerSite::InProcess | ServerSite::Remote => Some(Vec::new()),
            ServerSite::Loopback(ports) => ports
                .iter()
                .map(|&port| listener(port).and_then(|pid| Some((pid, proc_tree_ticks(pid)?))))
                .collect(),
            ServerSite::Unknown => None,
        };
        HostSample {
            at: since_origin(),
            cpus,
            ticks,
            own: own_ticks(),
            server,
        }
    }

    /// The host's load from this sample until now (the same server is measured again), and
    /// the CPU time the measured server's processes used meanwhile (see [`server_cpu`]).
    pub fn until_now(&self) -> (HostLoad, Option<std::time::Duration>) {
        let server = self.server.as_ref().and_then(|procs| {
            procs
                .iter()
                .map(|&(pid, _)| Some((pid, proc_tree_ticks(pid)?)))
                .collect()
        });
        let later = HostSample {
            server,
            ..HostSample::take(&ServerSite::Remote)
        };
        let hz = procfs::ticks_per_second();
        (
            self.until(&later, load_average(), hz),
            server_cpu(self, &later, hz),
        )
    }

    /// `hz`: clock ticks per second.
    fn until(&self, later: &HostSample, load_1m: f64, hz: u64) -> HostLoad {
        let d: Vec<u64> = later
            .ticks
            .iter()
            .zip(&self.ticks)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        // All cores' time over the interval, by the clock (see the type's note); the columns'
        // sum only when the cores changed in between.
        let wall = if self.cpus == later.cpus {
            let secs = later.at.saturating_sub(self.at).as_secs_f64();
            (secs * hz as f64 * later.cpus as f64).round() as u64
        } else {
            0
        };
        let total = if wall > 0 { wall } else { d.iter().sum() };
        if total == 0 {
            return HostLoad {
                load_1m,
                ..HostLoad::default()
            };
        }
        let idle = d[3] + d[4];
        let busy = total.saturating_sub(idle + d[7]);
        let own = later.own.saturating_sub(self.own);
        let other_busy = match (&self.server, &later.server) {
            (Some(before), Some(after))
                if before.len() == after.len()
                    && before.iter().zip(after).all(|(a, b)| a.0 == b.0) =>
            {
                let servers: u64 = before
                    .iter()
                    .zip(after)
                    .map(|(a, b)| b.1.saturating_sub(a.1))
                    .sum();
                Some(busy.saturating_sub(own + servers) as f64 / total as f64)
            }
            _ => None,
        };
        HostLoad {
            load_1m,
            busy: busy as f64 / total as f64,
            steal: d[7] as f64 / total as f64,
            other_busy,
        }
    }
}

/// CPU time of the measured server's processes between two samples: the processes listening
/// on its loopback ports and their descendants (PostgreSQL's backends and background
/// workers). `None` when the server is in this process (its CPU is the harness's too), remote
/// (not visible here), or could not be found or changed process in between (restarted).
fn server_cpu(
    before: &HostSample,
    after: &HostSample,
    ticks_per_s: u64,
) -> Option<std::time::Duration> {
    let (b, a) = (before.server.as_ref()?, after.server.as_ref()?);
    if b.is_empty() || b.len() != a.len() || b.iter().zip(a).any(|(x, y)| x.0 != y.0) {
        return None;
    }
    let ticks: u64 = b.iter().zip(a).map(|(x, y)| y.1.saturating_sub(x.1)).sum();
    Some(std::time::Duration::from_secs_f64(
        ticks as f64 / ticks_per_s.max(1) as f64,
    ))
}

/// This process's user + system time in clock ticks.
fn own_ticks() -> u64 {
    procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .map_or(0, |s| s.utime + s.stime)
}

/// The process listening on a TCP port (any local address), from /proc/net/tcp{,6} and the
/// processes' open sockets; `None` when no listener is visible to this user.
fn listener(port: u16) -> Option<i32> {
    let inodes: Vec<u64> = procfs::net::tcp()
        .into_iter()
        .chain(procfs::net::tcp6())
        .flatten()
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    procfs::process::all_processes()
        .ok()?
        .flatten()
        .find(|p| {
            p.fd().is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    matches!(fd.target, procfs::process::FDTarget::Socket(i) if inodes.contains(&i))
                })
            })
        })
        .map(|p| p.pid)
}

/// User + system ticks of a process, its descendants and the children they reaped (a
/// PostgreSQL backend that exited counts in the postmaster's); `None` when it is gone.
fn proc_tree_ticks(root: i32) -> Option<u64> {
    let stats: Vec<procfs::process::Stat> = procfs::process::all_processes()
        .ok()?
        .flatten()
        .filter_map(|p| p.stat().ok())
        .collect();
    stats.iter().find(|s| s.pid == root)?;
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
        i += 1;
    }
    let reaped = |v: i64| u64::try_from(v).unwrap_or(0);
    Some(
        stats
            .iter()
            .filter(|s| tree.contains(&s.pid))
            .map(|s| s.utime + s.stime + reaped(s.cutime) + reaped(s.cstime))
            .sum(),
    )
}

/// Monotonic time since a fixed origin (the first call).
fn since_origin() -> std::time::Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

/// The 1-minute load average (/proc/loadavg), 0 when unknown.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample(ticks: [u64; 8], own: u64, server: Option<(i32, u64)>) -> HostSample {
        let server = server.map(|(pid, t)| if pid == 0 { vec![] } else { vec![(pid, t)] });
        // Taken at the same moment: the interval is the columns' sum (see the wall test).
        HostSample {
            at: Duration::ZERO,
            cpus: 2,
            ticks,
            own,
            server,
        }
    }

    #[test]
    fn the_server_cpu_is_its_processes_ticks_between_two_samples() {
        let a = sample([0; 8], 0, Some((42, 1000)));
        let b = sample([0; 8], 0, Some((42, 1250)));
        assert_eq!(server_cpu(&a, &b, 100), Some(Duration::from_millis(2500)));
        // An application and the store behind it: both count.
        let two = |app, store| HostSample {
            at: Duration::ZERO,
            cpus: 2,
            ticks: [0; 8],
            own: 0,
            server: Some(vec![(7, app), (8, store)]),
        };
        assert_eq!(
            server_cpu(&two(10, 20), &two(30, 70), 100),
            Some(Duration::from_millis(700))
        );
        // Restarted (another process), not found, or none of its own here (remote or
        // in-process): not known, never 0.
        assert_eq!(
            server_cpu(&a, &sample([0; 8], 0, Some((43, 1250))), 100),
            None
        );
        assert_eq!(server_cpu(&a, &sample([0; 8], 0, None), 100), None);
        let none = sample([0; 8], 0, Some((0, 0)));
        assert_eq!(server_cpu(&none, &none, 100), None);
    }

    #[test]
    fn host_load_is_the_share_of_ticks_between_two_samples() {
        let a = sample([100, 0, 50, 800, 50, 0, 0, 0], 10, Some((42, 1000)));
        // +300 user, +100 system, +500 idle, +0 iowait, +100 steal: 1,000 ticks. Of the 400
        // busy ticks this process used 50 and the server 250: 100 were other work.
        let b = sample([400, 0, 150, 1300, 50, 0, 0, 100], 60, Some((42, 1250)));
        let l = a.until(&b, 1.5, 100);
        assert!((l.busy - 0.4).abs() < 1e-12, "{l:?}");
        assert!((l.steal - 0.1).abs() < 1e-12, "{l:?}");
        assert!((l.other_busy.unwrap() - 0.1).abs() < 1e-12, "{l:?}");
        assert_eq!(l.load_1m, 1.5);
        assert_eq!(a.until(&a, 0.0, 100), HostLoad::default());
        // A remote or in-process server: everything not this process is other work.
        let l = sample([0; 8], 0, Some((0, 0))).until(
            &sample([300, 0, 100, 600, 0, 0, 0, 0], 100, Some((0, 0))),
            0.0,
            100,
        );
        assert!((l.other_busy.unwrap() - 0.3).abs() < 1e-12, "{l:?}");
        // The server restarted (another process) or was not found: other work is unknown.
        let restarted = sample([400, 0, 150, 1300, 50, 0, 0, 100], 60, Some((43, 5)));
        assert_eq!(a.until(&restarted, 0.0, 100).other_busy, None);
        let lost = sample([400, 0, 150, 1300, 50, 0, 0, 100], 60, None);
        assert_eq!(a.until(&lost, 0.0, 100).other_busy, None);
        // Tick accounting differs slightly between /proc/stat and /proc/<pid>/stat: never
        // below zero.
        let over = sample([400, 0, 150, 1300, 50, 0, 0, 100], 600, Some((42, 1000)));
        assert_eq!(a.until(&over, 0.0, 100).other_busy, Some(0.0));
        // An application and a store behind it: both processes' ticks are the system's.
        let two = |app: u64, store: u64, ticks| HostSample {
            at: Duration::ZERO,
            cpus: 2,
            ticks,
            own: 0,
            server: Some(vec![(7, app), (8, store)]),
        };
        let l = two(0, 0, [0; 8]).until(&two(100, 200, [400, 0, 0, 600, 0, 0, 0, 0]), 0.0, 100);
        assert!((l.other_busy.unwrap() - 0.1).abs() < 1e-12, "{l:?}");
    }

    #[test]
    fn busy_time_is_the_clock_less_idle_not_the_ticks_sampled_busy() {
        // 10 s on 2 cores at 100 ticks/s: 2,000 ticks of core time. A tickless kernel saw
        // 1,800 idle (exact) but sampled only 20 busy: the other 180 ran between ticks.
        let at = |s, ticks, own| HostSample {
            at: Duration::from_secs(s),
            cpus: 2,
            ticks,
            own,
            server: Some(vec![(42, 0)]),
        };
        let a = at(5, [0; 8], 0);
        let b = at(15, [15, 0, 5, 1800, 0, 0, 0, 0], 100);
        let l = a.until(&b, 0.0, 100);
        assert!((l.busy - 0.1).abs() < 1e-12, "{l:?}");
        // This process used 100 of the 200 busy ticks, the server none: 100 other work.
        assert!((l.other_busy.unwrap() - 0.05).abs() < 1e-12, "{l:?}");
        // Stolen time is neither idle nor busy.
        let stolen = at(15, [15, 0, 5, 1600, 0, 0, 0, 200], 100);
        let l = a.until(&stolen, 0.0, 100);
        assert!((l.busy - 0.1).abs() < 1e-12, "{l:?}");
        assert!((l.steal - 0.1).abs() < 1e-12, "{l:?}");
        // Ticks that landed on short bursts charged more busy time than the clock allows
        // (the columns sum to 2,400 in 2,000): the clock less idle still holds.
        let over = at(15, [500, 0, 100, 1800, 0, 0, 0, 0], 100);
        assert!((a.until(&over, 0.0, 100).busy - 0.1).abs() < 1e-12);
        // A core came or went in between: the columns' sum is all there is.
        let resized = HostSample {
            cpus: 3,
            ..at(15, [100, 0, 0, 900, 0, 0, 0, 0], 0)
        };
        assert!((a.until(&resized, 0.0, 100).busy - 0.1).abs() < 1e-12);
    }

    #[test]
    fn an_application_site_takes_the_servers_behind_it() {
        use ServerSite::*;
        let app = ServerSite::of_url("http://127.0.0.1:8080", false);
        let pg = ServerSite::of_url("postgres://u:p@127.0.0.1/db", false);
        let neo = ServerSite::of_url("bolt://127.0.0.1:7687", false);
        let far = ServerSite::of_url("postgres://db.example.com/db", false);
        assert_eq!(
            app.clone()
                .behind([pg.clone(), neo, far.clone(), InProcess]),
            Loopback(vec![5432, 7687, 8080])
        );
        assert_eq!(Remote.behind([pg.clone()]), Loopback(vec![5432]));
        assert_eq!(Remote.behind([far]), Remote);
        assert_eq!(InProcess.behind([pg.clone()]), InProcess);
        assert_eq!(app.clone().behind([app.clone()]), app);
    }

    #[test]
    fn the_server_site_comes_from_the_target_url() {
        use ServerSite::*;
        for (url, site) in [
            ("postgres://u:p@127.0.0.1/db", Loopback(vec![5432])),
            ("postgresql://u:p@localhost:6543/db", Loopback(vec![6543])),
            ("bolt://127.0.0.1:7688", Loopback(vec![7688])),
            ("neo4j://LOCALHOST", Loopback(vec![7687])),
            ("http://[::1]:9000", Loopback(vec![9000])),
            ("http://127.0.0.2", Loopback(vec![80])),
            ("https://localhost/api", Loopback(vec![443])),
            ("http://10.0.0.5:9000", Remote),
            ("postgres://db.example.com/db", Remote),
            ("weird://localhost", Unknown),
            ("not a url", Unknown),
        ] {
            assert_eq!(ServerSite::of_url(url, false), site, "{url}");
        }
        assert_eq!(ServerSite::of_url("http://10.0.0.5", true), InProcess);
    }

    #[tokio::test]
    async fn reachable_is_a_tcp_connect_within_the_limit() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let within = std::time::Duration::from_secs(2);
        assert!(reachable(&url, within).await);
        drop(l);
        assert!(!reachable(&url, within).await, "refused");
        assert!(reachable("embedded:/tmp/x", within).await, "nothing to try");
    }

    #[test]
    fn a_listening_socket_is_found_with_its_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener(port), Some(std::process::id() as i32));
        let me = proc_tree_ticks(std::process::id() as i32);
        assert!(me.is_some());
        drop(l);
        assert_eq!(listener(port), None, "closed: nobody listens");
        assert_eq!(proc_tree_ticks(i32::MAX), None, "no such process");
    }
}
