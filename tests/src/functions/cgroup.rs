//! Memory and CPU limits for one execution environment: a Linux cgroup, v1
//! (the `memory` and `cpu` hierarchies) or v2 (one unified hierarchy), under a
//! parent group this process makes for itself (as root, or in a delegated v2
//! subtree such as `systemd-run --user --scope -p Delegate=yes`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Lambda gives one full vCPU at 1,769 MB, and CPU in proportion below.
pub const FULL_VCPU_MB: u64 = 1_769;
/// The CFS period the CPU quota is a share of (µs).
const PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone)]
enum Layout {
    /// Separate `memory` and `cpu` hierarchies: a group is a directory in each.
    V1 {
        memory: PathBuf,
        cpu: Option<PathBuf>,
    },
    /// One hierarchy with the `memory` and `cpu` controllers enabled below `dir`.
    V2 { dir: PathBuf },
}

/// This process's parent group, under which every environment gets its own.
#[derive(Debug)]
pub struct Cgroups {
    layout: Layout,
    next: AtomicU64,
}

/// One environment's group; removed when dropped (its processes must be gone).
#[derive(Debug)]
pub struct Cgroup {
    /// The directories whose `cgroup.procs` a process joins.
    dirs: Vec<PathBuf>,
    memory: PathBuf,
    v2: bool,
}

/// The path of this process's group in hierarchy `controller` (v1), or in the
/// unified hierarchy (`None`), from /proc/self/cgroup.
fn own_path(controller: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            Some(c) => controllers.split(',').any(|x| x == c),
            None => controllers.is_empty(),
        };
        matches.then(|| path.trim_start_matches('/').to_owned())
    })
}

/// Makes the memory and CPU controllers available below `group` (v2),
/// where it has processes of its own: a group with processes cannot pass
/// controllers down, so this process moves to a leaf of its own first (in a
/// delegated subtree, e.g. `systemd-run --user --scope -p Delegate=yes`, the
/// scope holds this process). Best effort: what fails shows when the parent
/// group is made.
fn delegate(group: &Path) {
    let control = group.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
    if enabled.split_whitespace().any(|c| c == "memory") {
        return;
    }
    if std::fs::write(&control, "+memory +cpu").is_ok()
        || std::fs::write(&control, "+memory").is_ok()
    {
        return;
    }
    let leaf = group.join(format!("autorepair-self-{}", std::process::id()));
    if std::fs::create_dir_all(&leaf).is_ok()
        && std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string()).is_ok()
    {
        let _ = std::fs::write(&control, "+memory +cpu")
            .or_else(|_| std::fs::write(&control, "+memory"));
    }
}

fn make_parent(candidates: &[PathBuf], name: &str) -> io::Result<PathBuf> {
    let mut last = io::Error::other("no cgroup hierarchy to create a group in");
    for base in candidates {
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(dir),
            Err(e) => last = io::Error::new(e.kind(), format!("{}: {e}", dir.display())),
        }
    }
    Err(last)
}

impl Cgroups {
    /// Makes this process's parent group, or says in one line why it cannot.
    pub fn new() -> Result<Cgroups, String> {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "autorepair-local-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let root = Path::new("/sys/fs/cgroup");
        let layout = if root.join("cgroup.controllers").exists() {
            let mut candidates = Vec::new();
            if let Some(own) = own_path(None).filter(|p| !p.is_empty()) {
                candidates.push(root.join(own));
            }
            candidates.push(root.to_path_buf());
            let dir = candidates
                .iter()
                .find_map(|base| {
                    delegate(base);
                    let dir = make_parent(std::slice::from_ref(base), &name).ok()?;
                    std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu")
                        .or_else(|_| std::fs::write(dir.join("cgroup.subtree_control"), "+memory"))
                        .map(|()| dir.clone())
                        .map_err(|_| {
                            let _ = std::fs::remove_dir(&dir);
                        })
                        .ok()
                })
                .ok_or_else(|| {
                    "no cgroup v2 group with the memory controller could be made here (run as root, or in a delegated subtree: systemd-run --user --scope -p Delegate=yes)".to_owned()
                })?;
            Layout::V2 { dir }
        } else if root.join("memory").is_dir() {
            let in_hierarchy = |controller: &str| {
                let base = root.join(controller);
                let mut candidates = Vec::new();
                if let Some(own) = own_path(Some(controller)).filter(|p| !p.is_empty()) {
                    candidates.push(base.join(own));
                }
                candidates.push(base);
                make_parent(&candidates, &name)
            };
            let memory = in_hierarchy("memory").map_err(|e| {
                format!("no memory cgroup could be made ({e}): real functions need root, or a delegated cgroup v2 subtree")
            })?;
            // The CPU share is best effort: a machine without the cpu
            // hierarchy still limits memory.
            let cpu = in_hierarchy("cpu").ok();
            Layout::V1 { memory, cpu }
        } else {
            return Err("no cgroup hierarchy under /sys/fs/cgroup: real functions need Linux memory cgroups".into());
        };
        Ok(Cgroups {
            layout,
            next: AtomicU64::new(0),
        })
    }

    /// A new group limited to `memory_mb` MB with the CPU share Lambda gives
    /// that much memory.
    pub fn create(&self, memory_mb: u32) -> io::Result<Cgroup> {
        let name = format!("env-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        let quota = (PERIOD_US * u64::from(memory_mb) / FULL_VCPU_MB).max(1_000);
        match &self.layout {
            Layout::V1 { memory, cpu } => {
                let mem = memory.join(&name);
                std::fs::create_dir(&mem)?;
                std::fs::write(mem.join("memory.limit_in_bytes"), bytes.to_string())?;
                // Without swap accounting this file is absent; where it is,
                // swap must not stretch the limit.
                let memsw = mem.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    std::fs::write(memsw, bytes.to_string())?;
                }
                let mut dirs = vec![mem.clone()];
                if let Some(cpu) = cpu {
                    let dir = cpu.join(&name);
                    std::fs::create_dir(&dir)?;
                    std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
                    std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())?;
                    dirs.push(dir);
                }
                Ok(Cgroup {
                    dirs,
                    memory: mem,
                    v2: false,
                })
            }
            Layout::V2 { dir } => {
                let group = dir.join(&name);
                std::fs::create_dir(&group)?;
                std::fs::write(group.join("memory.max"), bytes.to_string())?;
                let _ = std::fs::write(group.join("memory.swap.max"), "0");
                let _ = std::fs::write(group.join("cpu.max"), format!("{quota} {PERIOD_US}"));
                Ok(Cgroup {
                    dirs: vec![group.clone()],
                    memory: group,
                    v2: true,
                })
            }
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        match &self.layout {
            Layout::V1 { memory, cpu } => {
                let _ = std::fs::remove_dir(memory);
                if let Some(cpu) = cpu {
                    let _ = std::fs::remove_dir(cpu);
                }
            }
            Layout::V2 { dir } => {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Cgroup {
    /// The `cgroup.procs` files a process writes its pid to, to join.
    pub fn procs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The most memory the group has held since it was made (bytes): what
    /// Lambda reports as Max Memory Used.
    pub fn peak_bytes(&self) -> u64 {
        let peak = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        let current = if self.v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        read_u64(&self.memory.join(peak))
            .or_else(|| read_u64(&self.memory.join(current)))
            .unwrap_or(0)
    }

    /// How many times the kernel's OOM killer ended a process of the group.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(self.memory.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // A killed process leaves its group a moment after it is reaped.
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
