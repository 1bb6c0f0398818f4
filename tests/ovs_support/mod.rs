//! A private Open vSwitch for interop tests: ovsdb-server and ovs-vswitchd with their own
//! run directory and database (nothing of a system OVS is touched), a userspace-datapath
//! bridge (no kernel module), veth ports into network namespaces, and sFlow on the bridge.
//! Every waiting step is bounded; [`Ovs`] and [`Netns`] clean up on drop, failure included.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Whether `program` can be run (found on `PATH` or at an absolute path).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether this process runs as root (network namespaces, veths and raw sockets need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Run a command, returning its output; an error names the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

/// A network namespace, deleted (with the veth ends inside it) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Result<Netns, String> {
        let _ = run("ip", &["netns", "del", name]);
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n <name> ...`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, String> {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    /// A command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Result<Output, String> {
        let mut a = vec!["netns", "exec", self.name.as_str()];
        a.extend_from_slice(args);
        run("ip", &a)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// ovsdb-server and ovs-vswitchd in `dir`, stopped (and their bridges removed) on drop.
pub struct Ovs {
    dir: PathBuf,
    db: String,
    bridges: Vec<String>,
    /// Host ends of the veth pairs, deleted on drop.
    veths: Vec<String>,
}

impl Ovs {
    /// Start both daemons with `dir` as run, database, log and configuration directory.
    pub fn start(dir: &Path) -> Result<Ovs, String> {
        let d = dir.to_str().ok_or("directory not UTF-8")?.to_owned();
        let db = format!("unix:{d}/db.sock");
        let conf = format!("{d}/conf.db");
        run(
            "ovsdb-tool",
            &["create", &conf, "/usr/share/openvswitch/vswitch.ovsschema"],
        )?;
        let ovs = Ovs {
            dir: dir.to_owned(),
            db: db.clone(),
            bridges: Vec::new(),
            veths: Vec::new(),
        };
        ovs.daemon(
            "ovsdb-server",
            &[
                &conf,
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--pidfile={d}/ovsdb-server.pid"),
                "--detach",
                &format!("--log-file={d}/ovsdb-server.log"),
            ],
        )?;
        ovs.vsctl(&["--no-wait", "init"])?;
        ovs.daemon(
            "ovs-vswitchd",
            &[
                &db,
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                "--detach",
                &format!("--log-file={d}/ovs-vswitchd.log"),
            ],
        )?;
        Ok(ovs)
    }

    fn daemon(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let d = self.dir.to_str().unwrap_or_default();
        let out = Command::new(program)
            .args(args)
            .env("OVS_RUNDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_SYSCONFDIR", d)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// `ovs-vsctl` against this database, bounded by a 10-second timeout.
    pub fn vsctl(&self, args: &[&str]) -> Result<Output, String> {
        let db = format!("--db={}", self.db);
        let mut a = vec![db.as_str(), "--timeout=10"];
        a.extend_from_slice(args);
        run("ovs-vsctl", &a)
    }

    /// A bridge on the userspace datapath.
    pub fn add_bridge(&mut self, name: &str) -> Result<(), String> {
        self.vsctl(&[
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=netdev",
        ])?;
        self.bridges.push(name.to_owned());
        Ok(())
    }

    /// A veth pair: `host` on the bridge, `inside` moved into `ns` with `address` (CIDR).
    pub fn add_veth_port(
        &mut self,
        bridge: &str,
        host: &str,
        ns: &Netns,
        inside: &str,
        address: &str,
    ) -> Result<(), String> {
        let _ = run("ip", &["link", "del", host]);
        run(
            "ip",
            &[
                "link", "add", host, "type", "veth", "peer", "name", inside, "netns", &ns.name,
            ],
        )?;
        self.veths.push(host.to_owned());
        run("ip", &["link", "set", host, "up"])?;
        ns.ip(&["addr", "add", address, "dev", inside])?;
        ns.ip(&["link", "set", inside, "up"])?;
        self.vsctl(&["add-port", bridge, host])?;
        Ok(())
    }

    /// sFlow on `bridge`: every packet sampled (`sampling`), `header` bytes of each, to
    /// `target` (host:port), the agent address taken from interface `agent`.
    pub fn sflow(
        &self,
        bridge: &str,
        agent: &str,
        target: &str,
        sampling: u32,
        header: u32,
    ) -> Result<(), String> {
        self.vsctl(&[
            "--",
            "--id=@s",
            "create",
            "sflow",
            &format!("agent={agent}"),
            &format!("target=\"{target}\""),
            &format!("header={header}"),
            &format!("sampling={sampling}"),
            "polling=0",
            "--",
            "set",
            "bridge",
            bridge,
            "sflow=@s",
        ])?;
        Ok(())
    }

    /// The daemons' logs, for a failure message.
    pub fn logs(&self) -> String {
        ["ovsdb-server.log", "ovs-vswitchd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn stop(&self, name: &str) {
        let pidfile = self.dir.join(format!("{name}.pid"));
        let Ok(pid) = std::fs::read_to_string(&pidfile) else {
            return;
        };
        let pid = pid.trim().to_owned();
        let _ = run("kill", &["-TERM", &pid]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = run("kill", &["-KILL", &pid]);
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for b in &self.bridges {
            let _ = self.vsctl(&["--if-exists", "del-br", b]);
        }
        self.stop("ovs-vswitchd");
        self.stop("ovsdb-server");
        for v in &self.veths {
            let _ = run("ip", &["link", "del", v]);
        }
    }
}
