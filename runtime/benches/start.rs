//! nsbox's start-up benchmark: how long `nsbox run /bin/true` takes, plain,
//! with networking and with cgroup limits, beside reference runtimes started
//! the same way on the same machine in the same run.
//!
//! Run as root: `cargo bench -p nsbox --bench start` (NSBOX_BENCH_RUNS sets
//! the runs per variant, default 200). Variants are interleaved round by
//! round so that a noisy neighbour slows them all alike, and results are
//! given as medians and as differences and ratios against a baseline run
//! side by side, never as absolute targets. JSON lands in
//! target/bench/start.json.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Variant {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    samples_us: Vec<f64>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("start: bench");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("start bench: needs root (it starts containers); nothing measured");
        std::process::exit(1);
    }
    let runs: usize = std::env::var("NSBOX_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rootfs = std::env::var("NSBOX_ROOTFS").unwrap_or_else(|_| "/var/lib/nsbox/rootfs".into());
    let mut variants = variants(&rootfs);
    for variant in &variants {
        check_runs(variant);
    }
    eprintln!(
        "start bench: {runs} runs of {} variants, interleaved",
        variants.len()
    );
    for _ in 0..runs {
        for variant in variants.iter_mut() {
            let start = Instant::now();
            let status = command(variant).status().expect("start a variant");
            let elapsed = start.elapsed();
            assert!(status.success(), "{} failed: {status}", variant.name);
            variant.samples_us.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    report(&mut variants);
}

fn variants(rootfs: &str) -> Vec<Variant> {
    let nsbox = PathBuf::from(env!("CARGO_BIN_EXE_nsbox"));
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--read-only".into(),
            "--rootfs".into(),
            rootfs.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--".into(), "/bin/true".into()]);
        args
    };
    let mut list = vec![
        Variant {
            name: "nsbox --net none",
            program: nsbox.clone(),
            args: run(&["--net", "none"]),
            samples_us: vec![],
        },
        Variant {
            name: "nsbox (bridge + veth)",
            program: nsbox.clone(),
            args: run(&[]),
            samples_us: vec![],
        },
        Variant {
            name: "nsbox --net none + limits",
            program: nsbox,
            args: run(&[
                "--net", "none", "--memory", "64m", "--cpus", "1", "--pids", "100",
            ]),
            samples_us: vec![],
        },
    ];
    let unshare_args = [
        "-m",
        "-p",
        "-f",
        "-u",
        "-i",
        "-n",
        "--mount-proc",
        &format!("--root={rootfs}"),
        "/bin/true",
    ];
    if let Some(program) = find("unshare") {
        let args = unshare_args.iter().map(|s| s.to_string()).collect();
        list.push(Variant {
            name: "unshare (reference)",
            program,
            args,
            samples_us: vec![],
        });
    }
    if let Some(program) = find("bwrap") {
        let args = [
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-ipc",
            "--unshare-net",
            "--ro-bind",
            rootfs,
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "/bin/true",
        ];
        list.push(Variant {
            name: "bwrap (reference)",
            program,
            args: args.iter().map(|s| s.to_string()).collect(),
            samples_us: vec![],
        });
    }
    list
}

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

fn command(variant: &Variant) -> Command {
    let mut cmd = Command::new(&variant.program);
    cmd.args(&variant.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn check_runs(variant: &Variant) {
    let out = command(variant).output().expect("start a variant");
    assert!(
        out.status.success(),
        "{} does not run: {}\n{}",
        variant.name,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(variants: &mut [Variant]) {
    let mut rows = Vec::new();
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "variant", "p10 ms", "median ms", "p90 ms"
    );
    for v in variants.iter_mut() {
        v.samples_us.sort_by(|a, b| a.total_cmp(b));
        let (p10, p50, p90) = (
            percentile(&v.samples_us, 10.0),
            percentile(&v.samples_us, 50.0),
            percentile(&v.samples_us, 90.0),
        );
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>10.2}",
            v.name,
            p10 / 1e3,
            p50 / 1e3,
            p90 / 1e3
        );
        rows.push(
            serde_json::json!({"variant": v.name, "runs": v.samples_us.len(),
            "p10_ms": p10 / 1e3, "median_ms": p50 / 1e3, "p90_ms": p90 / 1e3}),
        );
    }
    let median = |name: &str| {
        variants
            .iter()
            .find(|v| v.name == name)
            .map(|v| percentile(&v.samples_us, 50.0) / 1e3)
    };
    let base = median("nsbox --net none").unwrap_or(f64::NAN);
    let mut derived = serde_json::Map::new();
    let mut line = |key: &str, text: String, value: f64| {
        println!("{text}");
        derived.insert(key.to_string(), value.into());
    };
    if let Some(net) = median("nsbox (bridge + veth)") {
        line(
            "network_cost_ms",
            format!(
                "networking adds {:.2} ms to a start (target: under 10 ms)",
                net - base
            ),
            net - base,
        );
    }
    if let Some(lim) = median("nsbox --net none + limits") {
        line(
            "limits_cost_ms",
            format!(
                "cgroup limits add {:.2} ms to a start (target: under 1 ms)",
                lim - base
            ),
            lim - base,
        );
    }
    for reference in ["unshare (reference)", "bwrap (reference)"] {
        if let Some(r) = median(reference) {
            let key = format!("nsbox_over_{}", reference.split(' ').next().unwrap());
            line(
                &key,
                format!(
                    "nsbox --net none takes {:.2}x the time of {reference}",
                    base / r
                ),
                base / r,
            );
        }
    }
    let out = serde_json::json!({"bench": "start", "variants": rows, "derived": derived,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()});
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("start.json"),
        serde_json::to_vec_pretty(&out).unwrap(),
    );
}
