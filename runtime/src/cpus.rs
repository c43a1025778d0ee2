//! CPU enumeration and NUMA node lookup.
//!
//! Shards are pinned to CPUs the process may run on (its affinity mask, read with
//! `core_affinity`). A runtime can also be restricted to the CPUs of one NUMA node, read from
//! `/sys/devices/system/node/node<N>/cpulist`; where that file is absent (no NUMA, containers),
//! the lookup returns `None` and the caller falls back to every allowed CPU.

use std::path::Path;

/// CPUs this process may run on, ascending. Falls back to `0..available_parallelism` when the
/// affinity mask cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus = (0..n).collect();
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// CPUs of NUMA node `node`, or `None` when the system does not describe that node.
pub fn numa_node_cpus(node: usize) -> Option<Vec<usize>> {
    numa_node_cpus_in(Path::new("/sys/devices/system/node"), node)
}

pub(crate) fn numa_node_cpus_in(root: &Path, node: usize) -> Option<Vec<usize>> {
    let text = std::fs::read_to_string(root.join(format!("node{node}/cpulist"))).ok()?;
    parse_cpulist(text.trim())
}

/// Parses a kernel cpulist such as `0-3,8,10-11`. Returns `None` on malformed input.
pub fn parse_cpulist(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Some(out);
    }
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            if a > b {
                return None;
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulist_forms() {
        assert_eq!(
            parse_cpulist("0-3,8,10-11"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpulist("5"), Some(vec![5]));
        assert_eq!(parse_cpulist(""), Some(vec![]));
        assert_eq!(parse_cpulist("3-1"), None);
        assert_eq!(parse_cpulist("x"), None);
    }

    #[test]
    fn numa_from_fake_sysfs_and_absent_node() {
        let dir = std::env::temp_dir().join(format!("shardnet-numa-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("node1")).unwrap();
        std::fs::write(dir.join("node1/cpulist"), "2-3\n").unwrap();
        assert_eq!(numa_node_cpus_in(&dir, 1), Some(vec![2, 3]));
        assert_eq!(numa_node_cpus_in(&dir, 7), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn allowed_is_nonempty() {
        assert!(!allowed_cpus().is_empty());
    }
}
