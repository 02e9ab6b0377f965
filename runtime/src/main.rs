//! The `nsbox` command: parse, check, run, and turn every outcome into one
//! line on stderr and a documented exit status.
//!
//! Exit status: the command's own status; 128 + N when it was killed by
//! signal N; 125 when nsbox itself failed (bad input included); 126 when
//! the command cannot be executed; 127 when it is not found.

use std::process::ExitCode;

use clap::Parser;
use nsbox::cli::{Cli, Command, RunArgs};
use nsbox::{container, error_chain};
use tracing_subscriber::EnvFilter;

/// nsbox's own failures, as docker and podman number them.
const EXIT_NSBOX_FAILED: u8 = 125;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(EXIT_NSBOX_FAILED);
        }
    };
    init_tracing(cli.debug);
    let code = match cli.command {
        Command::Run(args) => run(*args),
        Command::Cleanup => cleanup(),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn run(args: RunArgs) -> i32 {
    let name = args.name.clone();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nsbox: must run as root (namespaces, mounts and cgroups need it)");
        return EXIT_NSBOX_FAILED.into();
    }
    let config = match args.into_config() {
        Ok(config) => config,
        Err(err) => {
            let what = name.map(|n| format!(" {n:?}")).unwrap_or_default();
            eprintln!("nsbox: cannot start container{what}: {}", error_chain(&err));
            return err.exit_code();
        }
    };
    match container::run(&config) {
        Ok(ended) => {
            if ended.oom_kills > 0 {
                let limit = config.limits.memory.map(format_bytes).unwrap_or_default();
                eprintln!(
                    "nsbox: container {:?}: out of memory: the kernel killed {} process(es) at the memory limit of {limit}",
                    config.name, ended.oom_kills
                );
            }
            ended.exit_code
        }
        Err(err) => {
            eprintln!(
                "nsbox: cannot start container {:?}: {}",
                config.name,
                error_chain(&err)
            );
            err.exit_code()
        }
    }
}

fn cleanup() -> i32 {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nsbox: must run as root to clean up");
        return EXIT_NSBOX_FAILED.into();
    }
    for item in container::cleanup_stale() {
        println!("removed {item}");
    }
    0
}

fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn init_tracing(debug: bool) {
    let filter = match (debug, EnvFilter::try_from_default_env()) {
        (true, _) => EnvFilter::new("nsbox=debug"),
        (false, Ok(filter)) => filter,
        (false, Err(_)) => EnvFilter::new("nsbox=warn"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}
